"""Model fields whose values are stored encrypted (AES-GCM, see protection/crypto.py).

    from protection.fields import EncryptedTextField
    birthplace = EncryptedTextField(_("lieu de naissance"), blank=True, null=True)

The column is ``text`` holding ``enc:v1:<key_id>:<…>``; Python code only ever sees the plaintext.
Each value is bound to its column (``app_label.model_name.field_name``): renaming the model or the
field makes existing values unreadable unless ``context=`` keeps the former name.

What encryption rules out: filtering, ordering, uniqueness and indexes on the value (only
``__isnull`` works, since NULL stays NULL). ``dumpdata`` writes plaintext, like any serializer.
"""

import json

from django import forms
from django.core import checks
from django.core.exceptions import FieldError
from django.db import models

from protection import crypto


class EncryptedTextField(models.TextField):
    description = "Text encrypted with AES-GCM"

    def __init__(self, *args, context: str | None = None, **kwargs):
        self._context = context
        super().__init__(*args, **kwargs)

    @property
    def context(self) -> str:
        if self._context:
            return self._context
        return f"{self.model._meta.app_label}.{self.model._meta.model_name}.{self.name}"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self._context:
            kwargs["context"] = self._context
        return name, path, args, kwargs

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.unique or self.primary_key or self.db_index:
            errors.append(
                checks.Error(
                    "An encrypted field cannot be unique, a primary key or indexed: ciphertexts never repeat",
                    obj=self,
                    id="protection.E101",
                )
            )
        return errors

    # Ciphertexts are random: a comparison in SQL would silently match nothing.
    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model._meta.label}.{self.name} is encrypted: it cannot be filtered with "
            f"'{lookup_name}' (only __isnull)"
        )

    def get_transform(self, lookup_name):
        raise FieldError(f"{self.model._meta.label}.{self.name} is encrypted: no transform '{lookup_name}'")

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self._decode(crypto.decrypt(value, context=self.context))

    def get_prep_value(self, value):
        value = self._encode(value)
        if value is None:
            return None
        return crypto.encrypt(value, context=self.context)

    def _encode(self, value) -> str | None:
        return super().get_prep_value(value)

    def _decode(self, plaintext: str):
        return plaintext


class EncryptedJSONField(EncryptedTextField):
    """Any JSON value, serialised then encrypted. Python None is SQL NULL (there is no JSON null)."""

    description = "JSON encrypted with AES-GCM"
    empty_strings_allowed = False

    def __init__(self, *args, encoder=None, decoder=None, **kwargs):
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def to_python(self, value):
        return value

    def _encode(self, value) -> str | None:
        if value is None:
            return None
        return json.dumps(value, cls=self.encoder, ensure_ascii=False, separators=(",", ":"))

    def _decode(self, plaintext: str):
        return json.loads(plaintext, cls=self.decoder)

    def value_to_string(self, obj):
        return self.value_from_object(obj)

    def formfield(self, **kwargs):
        return super().formfield(
            **{"form_class": forms.JSONField, "encoder": self.encoder, "decoder": self.decoder, **kwargs}
        )


def encrypted_fields(app_registry=None) -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every concrete encrypted column of the installed models, each once (declared on its own table)."""
    if app_registry is None:
        from django.apps import apps as app_registry
    found = []
    for model in app_registry.get_models():
        if model._meta.proxy:
            continue
        for field in model._meta.local_concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found
