"""Encrypted columns: AES-GCM values bound to their column, a keyring that rotates, reencrypt_fields."""

import base64
import io
import os
import stat

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.test.utils import isolate_apps

from protection.crypto import DecryptionError
from protection.fields import EncryptedJSONField, EncryptedTextField
from protection.management.commands import reencrypt_fields
from protection.models import JournalEntry
from tests.platform_core.test_configuration import start_django

pytestmark = pytest.mark.django_db

K1 = ("k1", os.urandom(32))
K2 = ("k2", os.urandom(32))
TABLE = "test_field_encryption_note"


@pytest.fixture
def note_model(monkeypatch):
    """A test-only model with encrypted columns, its table created inside the test's transaction."""
    with isolate_apps("protection") as registry:

        class Note(models.Model):
            body = EncryptedTextField(null=True, blank=True)
            other = EncryptedTextField(null=True, blank=True)
            data = EncryptedJSONField(null=True, blank=True)

            class Meta:
                app_label = "protection"
                db_table = TABLE

            def __str__(self):
                return f"note {self.pk}"

        with connection.schema_editor() as editor:
            editor.create_model(Note)
        # The command finds encrypted fields through the app registry: here, the isolated one.
        monkeypatch.setattr(reencrypt_fields, "apps", registry)
        yield Note


@pytest.fixture
def keys(settings):
    def use(*entries):
        settings.FIELD_ENCRYPTION_KEYS = list(entries)

    use(K1)
    return use


def stored(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, other, data FROM test_field_encryption_note WHERE id = %s", [pk])
        return cursor.fetchone()


def overwrite(pk, column_sql, value=None):
    with connection.cursor() as cursor:
        cursor.execute(column_sql, [value, pk] if value is not None else [pk])


def run_reencrypt(*arguments):
    out, err = io.StringIO(), io.StringIO()
    call_command("reencrypt_fields", *arguments, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def secrets_of(*entries):
    """Every way a key could leak into text."""
    return [form for _, key in entries for form in (base64.b64encode(key).decode(), key.hex(), repr(key))]


def test_a_value_round_trips_and_is_stored_encrypted(note_model, keys):
    note = note_model.objects.create(
        body="Né à Tulle (19272)", data={"nir": "1 84 12 19 272 001", "n": [1, 2]}
    )

    note.refresh_from_db()
    assert note.body == "Né à Tulle (19272)"
    assert note.data == {"nir": "1 84 12 19 272 001", "n": [1, 2]}
    body, other, data = stored(note.pk)
    assert body.startswith("enc:v1:k1:")
    assert "Tulle" not in body and "19272" not in body
    assert data.startswith("enc:v1:k1:") and "nir" not in data
    assert other is None
    assert note_model.objects.values_list("body", flat=True).get() == "Né à Tulle (19272)"


def test_the_same_plaintext_never_gives_the_same_ciphertext(note_model, keys):
    first = note_model.objects.create(body="secret")
    second = note_model.objects.create(body="secret")

    assert stored(first.pk)[0] != stored(second.pk)[0]


def test_none_stays_null_and_only_isnull_can_filter(note_model, keys):
    empty = note_model.objects.create(body=None)
    note_model.objects.create(body="x")

    assert stored(empty.pk)[0] is None
    assert list(note_model.objects.filter(body__isnull=True)) == [empty]
    with pytest.raises(FieldError, match="encrypted"):
        note_model.objects.filter(body="x").count()
    with pytest.raises(FieldError, match="encrypted"):
        note_model.objects.filter(body__icontains="x").count()
    with pytest.raises(FieldError, match="encrypted"):
        note_model.objects.filter(data__nir="x").count()


def test_a_tampered_value_fails_to_decrypt_without_revealing_anything(note_model, keys):
    note = note_model.objects.create(body="Jeanne Martin")
    token = stored(note.pk)[0]
    head, payload = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[20] ^= 0x01
    tampered = f"{head}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    overwrite(note.pk, "UPDATE test_field_encryption_note SET body = %s WHERE id = %s", tampered)

    with pytest.raises(DecryptionError) as raised:
        note_model.objects.get(pk=note.pk)

    message = str(raised.value)
    assert "Jeanne" not in message
    assert not any(secret in message for secret in secrets_of(K1))


def test_a_ciphertext_moved_to_another_column_fails_to_decrypt(note_model, keys):
    note = note_model.objects.create(body="Jeanne Martin")
    overwrite(note.pk, "UPDATE test_field_encryption_note SET other = body WHERE id = %s")

    with pytest.raises(DecryptionError, match="another column"):
        note_model.objects.get(pk=note.pk)


def test_a_value_under_a_key_absent_from_the_keyring_fails_to_decrypt(note_model, keys):
    note = note_model.objects.create(body="Jeanne Martin")
    keys(K2)

    with pytest.raises(DecryptionError, match="'k1', absent from the keyring"):
        note_model.objects.get(pk=note.pk)


def test_the_field_deconstructs_for_migrations():
    field = EncryptedTextField("lieu de naissance", null=True, context="identity.person.birthplace")

    _, path, args, kwargs = field.deconstruct()

    assert path == "protection.fields.EncryptedTextField"
    assert args == []
    assert kwargs == {
        "verbose_name": "lieu de naissance",
        "null": True,
        "context": "identity.person.birthplace",
    }
    assert EncryptedJSONField().deconstruct()[1] == "protection.fields.EncryptedJSONField"


def test_keys_rotate_and_reencrypt_fields_moves_every_value_to_the_newest_key(note_model, keys, log_lines):
    # Given values written under k1 ...
    old = [note_model.objects.create(body=f"valeur {n}", data={"n": n}) for n in range(5)]
    note_model.objects.create(body=None)

    # ... when k2 is added as the active key, they still decrypt and new writes use k2.
    keys(K1, K2)
    assert [note.body for note in note_model.objects.filter(pk__in=[n.pk for n in old]).order_by("pk")] == [
        f"valeur {n}" for n in range(5)
    ]
    new = note_model.objects.create(body="nouvelle")
    assert stored(new.pk)[0].startswith("enc:v1:k2:")

    # The dry run counts and changes nothing.
    before = [stored(note.pk) for note in old]
    output = run_reencrypt()
    assert "protection.Note.body : 5 valeur(s) à rechiffrer (k1: 5)" in output
    assert "protection.Note.data : 5 valeur(s) à rechiffrer (k1: 5)" in output
    assert "protection.Note.other : 0 valeur(s) à rechiffrer" in output
    assert "Simulation" in output
    assert [stored(note.pk) for note in old] == before

    # The wet run rewrites them all under k2, in batches, and journals it.
    output += run_reencrypt("--wet-run", "--batch-size", "2")
    assert "protection.Note.body : lot de 2 ligne(s), 2/5 rechiffrée(s)" in output
    assert "protection.Note.body : lot de 1 ligne(s), 5/5 rechiffrée(s)" in output
    for note in old:
        body, _, data = stored(note.pk)
        assert body.startswith("enc:v1:k2:") and data.startswith("enc:v1:k2:")
    assert JournalEntry.objects.filter(event_type="protection.fields_reencrypted").count() == 6

    # Re-running finds nothing left: an interrupted run resumes where it stopped.
    output += run_reencrypt("--wet-run")
    assert "protection.Note.body : 0 valeur(s) à rechiffrer" in output

    # Once k1 is removed everything still decrypts.
    keys(K2)
    notes = note_model.objects.order_by("pk")
    assert [(note.body, note.data) for note in notes] == [
        *((f"valeur {n}", {"n": n}) for n in range(5)),
        (None, None),
        ("nouvelle", None),
    ]

    # No key ever reached the output or the logs.
    logged = "\n".join(str(line) for line in log_lines())
    for secret in secrets_of(K1, K2):
        assert secret not in output
        assert secret not in logged


def test_reencrypt_fields_leaves_unreadable_values_and_says_so(note_model, keys):
    lost = note_model.objects.create(body="sous une clé perdue")
    keys(K2)
    kept = note_model.objects.create(body="lisible")
    keys(K2, ("k3", os.urandom(32)))

    with pytest.raises(CommandError, match="1 valeur"):
        run_reencrypt("--wet-run")

    assert stored(lost.pk)[0].startswith("enc:v1:k1:")
    assert stored(kept.pk)[0].startswith("enc:v1:k3:")


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("k1", "must look like id:base64key"),
        ("k1:not*base64", "not valid base64"),
        (f"k1:{base64.b64encode(b'sixteen bytes!!!').decode()}", "must be 32 bytes"),
        (f"k1:{base64.b64encode(K1[1]).decode()},k1:{base64.b64encode(K2[1]).decode()}", "appears twice"),
        ("", "at least one key"),
    ],
)
def test_malformed_field_encryption_keys_stop_start_up_naming_the_variable(tmp_path, value, hint):
    result = start_django(tmp_path, FIELD_ENCRYPTION_KEYS=value)

    assert result.returncode != 0
    assert "Invalid environment variable FIELD_ENCRYPTION_KEYS:" in result.stderr
    assert hint in result.stderr
    for secret in secrets_of(K1, K2):
        assert secret not in result.stderr


def test_without_keys_one_is_generated_once_into_var(tmp_path):
    code = "from django.conf import settings; print([k for k, _ in settings.FIELD_ENCRYPTION_KEYS])"
    first = start_django(tmp_path, ["shell", "--no-imports", "-c", code])
    second = start_django(tmp_path, ["shell", "--no-imports", "-c", code])

    key_file = tmp_path / "var" / "secrets" / "field_encryption_keys"
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == second.stdout.strip() == "['k1']"
    key_id, _, encoded = key_file.read_text().strip().partition(":")
    assert key_id == "k1" and len(base64.b64decode(encoded)) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@isolate_apps("protection")
def test_an_encrypted_field_cannot_be_unique_nor_indexed():
    class Person(models.Model):
        nir = EncryptedTextField(unique=True)

        class Meta:
            app_label = "protection"

        def __str__(self):
            return "person"

    assert [error.id for error in Person.check()] == ["protection.E101"]
