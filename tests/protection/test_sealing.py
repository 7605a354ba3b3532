"""Sealing: the canonical format, RFC 6962 Merkle trees, batches, chain, signatures, horizon."""

import base64
import hashlib
import threading
import time
import uuid
import zoneinfo
from datetime import datetime

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from platform_core.env import env_keyring
from protection import canonical, journal, proof, sealing, signing
from protection.events import register
from protection.models import JournalEntry, Seal, SigningKey
from protection.tasks import seal_journal_task
from protection.verification import verify_journal

register("tests.sealing_event", "Évènement de test du scellement")

GOLDEN = "\x1f".join(
    [
        "12",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "2026-11-28T21:03:04.123456Z",
        "tests.sealing_event",
        "user",
        "a1",
        'Camille "Cam" Martin\\',
        "",
        "",
        "Vérification\n",
        "",
        "success",
        "req-1",
        "",
        '{"a":{"y":"\\t","z":"é"},"b":[1,2.5,null,true]}',
    ]
)
GOLDEN_LEAF = "9c242c972b347dbdf099a8a37282c8787340096b1cd07ebbce470d5d3cb0f3aa"


def golden_entry(**overrides) -> JournalEntry:
    fields = {
        "id": 12,
        "public_id": uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
        # 22:03 in Paris is 21:03 UTC in November: the canonical form is always UTC.
        "occurred_at": datetime(2026, 11, 28, 22, 3, 4, 123456, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "event_type": "tests.sealing_event",
        "actor_type": "user",
        "actor_id": "a1",
        "actor_label": 'Camille "Cam" Martin\\',
        "organisation_id": "",
        "subject": "",
        "purpose": "Vérification\n",
        "contract": "",
        "outcome": "success",
        "request_id": "req-1",
        "data": {"b": [1, 2.5, None, True], "a": {"z": "é", "y": "\t"}},
        "deferred_disclosure_until": None,
    }
    return JournalEntry(**{**fields, **overrides})


def sql_canonical(entry_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(canonical.canonical_sql("id = %s"), [entry_id])
        return cursor.fetchone()[1]


def sql_leaf(entry_id: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(canonical.leaves_sql("id = %s"), [entry_id])
        return bytes(cursor.fetchone()[1])


def record(n: int = 1, **kwargs) -> list[JournalEntry]:
    return [journal.record("tests.sealing_event", actor=None, data={"n": i}, **kwargs) for i in range(n)]


# --- the canonical format -----------------------------------------------------------------------------


def test_canonical_form_of_a_fixed_entry_is_the_documented_string():
    text = canonical.canonical_entry(canonical.entry_fields(golden_entry()))

    assert text == GOLDEN
    assert canonical.leaf_hash(text.encode()).hex() == GOLDEN_LEAF
    assert GOLDEN_LEAF == hashlib.sha256(b"\x00" + GOLDEN.encode("utf-8")).hexdigest()


@pytest.mark.django_db
def test_postgresql_assembles_the_same_canonical_form():
    golden_entry().save(force_insert=True)

    assert sql_canonical(12) == GOLDEN


AWKWARD = [
    "",
    'quote " backslash \\ slash / ',
    "controls \x01\x07\x08\x0b\x0c\x1b\x1e \t\r\n end",
    "\x7f DEL, U+2028 \u2028, U+FEFF \ufeff, emoji 🧾, CJK 漢字, accents éàç",
]


@pytest.mark.django_db
@pytest.mark.parametrize("text", AWKWARD)
def test_both_paths_agree_on_awkward_values(text):
    entry = golden_entry(
        id=None,
        public_id=uuid.uuid4(),
        actor_label=text,
        purpose=text,
        subject=text[:80],
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=zoneinfo.ZoneInfo("UTC")),
        deferred_disclosure_until=datetime(2030, 6, 1, 0, 0, 0, 7, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        data={
            text: [text, {"é": 1, "e": -2, "E": 0.1, "z": 1e-07, "big": 12345678901234567890}],
            "nested": {"b": {"d": [], "c": {}}, "a": None, "float": 1e16, "neg": -1.5},
        },
    )
    entry.save(force_insert=True)
    entry.refresh_from_db()  # what is sealed is what the database holds

    expected = canonical.canonical_entry(canonical.entry_fields(entry))
    assert sql_canonical(entry.pk) == expected
    assert sql_leaf(entry.pk) == canonical.leaf_hash(expected.encode())
    assert proof.canonical_entry(canonical.entry_fields(entry)) == expected
    assert "\x1f2030-05-31T22:00:00.000007Z\x1f" in expected
    # The payload is stored as its canonical text: numbers come back exactly as Python wrote them.
    assert '"float":1e+16,' in expected and '"z":1e-07' in expected
    assert '"big":12345678901234567890' in expected


def test_a_naive_datetime_has_no_canonical_form():
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical.format_datetime(datetime(2026, 1, 1))  # noqa: DTZ001


# --- Merkle trees: RFC 6962 §2.1, against an independent recursive implementation ----------------------


def rfc_mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(leaves[:k]) + rfc_mth(leaves[k:])).digest()


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return rfc_path(m, leaves[:k]) + [rfc_mth(leaves[k:])]
    return rfc_path(m - k, leaves[k:]) + [rfc_mth(leaves[:k])]


@pytest.mark.parametrize("size", range(1, 18))
def test_merkle_roots_and_audit_paths_follow_rfc_6962(size):
    leaves = [hashlib.sha256(b"\x00" + f"entry {i}".encode()).digest() for i in range(size)]

    root = canonical.merkle_root(leaves)

    assert root == rfc_mth(leaves)
    for index in range(size):
        path = canonical.audit_path(leaves, index)
        assert path == rfc_path(index, leaves), index
        assert canonical.root_from_audit_path(leaves[index], index, size, path) == root
        assert proof.root_from_audit_path(leaves[index], index, size, path) == root
        if path:
            with pytest.raises(ValueError, match="too long"):
                canonical.root_from_audit_path(leaves[index], index, size, [*path, path[0]])


def test_a_leaf_and_a_node_never_hash_alike():
    leaf = canonical.leaf_hash(b"x")

    assert canonical.merkle_root([leaf]) == leaf == hashlib.sha256(b"\x00x").digest()
    assert canonical.node_hash(leaf, leaf) == hashlib.sha256(b"\x01" + leaf + leaf).digest()


# --- sealing --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_entries_are_sealed_in_chained_signed_batches(settings):
    entries = record(7)

    seals = sealing.seal_pending(batch_size=3)

    assert [(s.batch_number, s.entry_count) for s in seals] == [(1, 3), (2, 3), (3, 1)]
    assert (seals[0].first_entry_id, seals[-1].last_entry_id) == (entries[0].pk, entries[-1].pk)
    assert [s.previous_seal_hash for s in seals] == ["", seals[0].seal_hash, seals[1].seal_hash]
    ring = signing.keyring()
    public_key = SigningKey.objects.get(key_id=ring.active_key_id).public_key
    for seal in Seal.objects.order_by("batch_number"):
        body = canonical.seal_body_of(seal)
        assert canonical.seal_hash(body) == seal.seal_hash
        assert signing.verify_signature(public_key, body, seal.signature)
        rows = JournalEntry.objects.filter(id__gte=seal.first_entry_id, id__lte=seal.last_entry_id)
        leaves = [
            canonical.leaf_hash(canonical.canonical_entry(canonical.entry_fields(e)).encode())
            for e in rows.order_by("id")
        ]
        assert canonical.merkle_root(leaves).hex() == seal.merkle_root
    assert verify_journal().ok


@pytest.mark.django_db
def test_nothing_is_sealed_twice_and_nothing_pending_means_no_seal():
    assert sealing.seal_pending() == []
    record(2)
    first = sealing.seal_pending()

    again = sealing.seal_pending()
    record(1)
    more = sealing.seal_pending()

    assert len(first) == 1 and again == []
    assert (more[0].batch_number, more[0].first_entry_id) == (2, first[0].last_entry_id + 1)
    assert Seal.objects.count() == 2


@pytest.mark.django_db
def test_holes_left_by_rolled_back_writes_are_not_counted():
    (before,) = record(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(1)
        journal.flush()  # the id is allocated: rolling back leaves a hole
        raise RuntimeError("rolled back")
    (after,) = record(1)

    (seal,) = sealing.seal_pending()

    assert (seal.first_entry_id, seal.last_entry_id, seal.entry_count) == (before.pk, after.pk, 2)
    assert verify_journal().ok


@pytest.mark.django_db
def test_a_call_seals_at_most_max_batches_the_next_one_goes_on():
    record(5)

    first = sealing.seal_pending(batch_size=2, max_batches=2)
    rest = sealing.seal_pending(batch_size=2, max_batches=2)

    assert [s.entry_count for s in first + rest] == [2, 2, 1]
    assert verify_journal().ok


@pytest.mark.django_db(transaction=True)
def test_a_second_sealer_returns_while_the_advisory_lock_is_held():
    record(3)
    params = {
        k: v for k, v in connection.get_connection_params().items() if k not in {"cursor_factory", "context"}
    }
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [sealing.SEAL_LOCK_KEY])

        assert sealing.seal_pending() == []

        other.execute("SELECT pg_advisory_unlock(%s)", [sealing.SEAL_LOCK_KEY])
    assert len(sealing.seal_pending()) == 1


@pytest.mark.django_db(transaction=True)
def test_an_entry_still_in_flight_below_the_horizon_holds_sealing_back():
    """The entry with the lower id commits last: sealing must wait for it, never seal past it."""
    inserted, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                record(1)
                journal.flush()  # the id is allocated now, below the one committed first
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(10)
    (later,) = record(1)  # a higher id, committed first

    assert sealing.seal_pending(timeout=0.3) == []  # gives up: nothing sealed past the open write

    release.set()
    assert done.wait(10)
    thread.join()
    (seal,) = sealing.seal_pending()
    assert (seal.entry_count, seal.last_entry_id) == (2, later.pk)
    assert verify_journal().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_leave_no_false_gap():
    """Writers commit out of id order, some roll back, while sealing runs again and again."""
    stop = threading.Event()
    errors = []

    def writer(number: int):
        try:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    with transaction.atomic():
                        journal.record("tests.sealing_event", actor=None, data={"w": number, "i": i})
                        journal.flush()  # the id is allocated now, the commit comes later
                        time.sleep(0.002 * (i % 3))  # commit order differs from id order
                        if i % 7 == 0:
                            raise RuntimeError("rolled back: a hole")
                except RuntimeError:
                    pass
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def sealer():
        try:
            while not stop.is_set():
                sealing.seal_pending(batch_size=25, timeout=0.5)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(2.5)
    stop.set()
    for thread in threads:
        thread.join(30)

    while sealing.seal_pending(batch_size=25):
        pass

    assert not errors
    total = JournalEntry.objects.count()
    assert total > 50
    last = Seal.objects.order_by("-batch_number").first()
    assert not JournalEntry.objects.filter(id__gt=last.last_entry_id).exists()
    assert sum(Seal.objects.values_list("entry_count", flat=True)) == total
    report = verify_journal()
    assert report.ok, report.failure
    assert report.entries == total


@pytest.mark.django_db
def test_the_task_seals_and_is_scheduled_every_two_seconds(settings):
    record(2)

    assert seal_journal_task.apply().get() == 1
    assert seal_journal_task.apply().get() == 0
    schedule = settings.CELERY_BEAT_SCHEDULE["protection.seal_journal"]
    assert (schedule["task"], schedule["schedule"]) == ("protection.tasks.seal_journal_task", 2.0)


# --- keys -----------------------------------------------------------------------------------------------


def seed() -> bytes:
    return bytes(range(32))


@pytest.mark.django_db
def test_after_a_rotation_new_seals_use_the_new_key_and_old_ones_still_verify(settings):
    record(2)
    (old,) = sealing.seal_pending()
    old_key = old.key_id
    settings.JOURNAL_SIGNING_KEYS = [*settings.JOURNAL_SIGNING_KEYS, ("j99", seed())]

    record(2)
    (new,) = sealing.seal_pending()

    assert new.key_id == "j99" != old_key
    assert SigningKey.objects.get(key_id=old_key).retired_at is not None
    assert SigningKey.objects.get(key_id="j99").retired_at is None
    assert verify_journal().ok


@pytest.mark.django_db
def test_a_key_id_reused_for_another_key_is_refused(settings):
    record(1)
    sealing.seal_pending()
    key_id = signing.keyring().active_key_id
    settings.JOURNAL_SIGNING_KEYS = [(key_id, seed())]

    record(1)
    with pytest.raises(Exception, match="does not match the public key"):
        sealing.seal_pending()


def test_the_keyring_never_shows_key_material(settings):
    settings.JOURNAL_SIGNING_KEYS = [("j1", seed())]

    shown = repr(signing.keyring())

    assert "j1" in shown and base64.b64encode(seed()).decode() not in shown and "private" not in shown


@pytest.mark.django_db
def test_rotate_journal_key_appends_to_the_generated_key_file(settings, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("JOURNAL_SIGNING_KEYS", raising=False)
    monkeypatch.delenv("JOURNAL_SIGNING_KEYS_FILE", raising=False)
    settings.SECRETS_DIR = tmp_path
    first = "j1:" + base64.b64encode(seed()).decode()
    (tmp_path / "journal_signing_keys").write_text(first, encoding="utf-8")
    settings.JOURNAL_SIGNING_KEYS = [("j1", seed())]

    call_command("rotate_journal_key")

    ring = env_keyring("JOURNAL_SIGNING_KEYS", generate_into=tmp_path, prefix="j")
    assert [key_id for key_id, _ in ring] == ["j1", "j2"]
    output = capsys.readouterr().out
    assert "j2" in output and base64.b64encode(ring[1][1]).decode() not in output
    rotated = JournalEntry.objects.get(event_type="journal.key_rotated")
    assert rotated.data == {"key_id": "j2"}


@pytest.mark.django_db
def test_rotate_journal_key_prints_the_entry_when_keys_come_from_the_environment(
    settings, monkeypatch, capsys
):
    monkeypatch.setenv("JOURNAL_SIGNING_KEYS", "j1:" + base64.b64encode(seed()).decode())
    settings.JOURNAL_SIGNING_KEYS = [("j1", seed())]

    call_command("rotate_journal_key")

    entry = capsys.readouterr().out.strip().splitlines()[-1]
    key_id, _, key = entry.partition(":")
    assert key_id == "j2" and len(base64.b64decode(key)) == 32
