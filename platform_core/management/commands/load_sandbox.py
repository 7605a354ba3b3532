"""`manage.py load_sandbox`: demo organisations, accounts and roles, idempotently.

Passwords are generated on the first run into var/sandbox/credentials.json (mode 0600) and
reused afterwards, so a second run changes nothing and prints the same table.
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from platform_core import embedded_db, sandbox
from platform_core.enums import MembershipRole
from platform_core.models import Membership, Organisation
from platform_core.services import membership_create, organisation_create

# No 0/O, 1/l/I: passwords are read off a terminal and typed by hand.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - an alphabet


def credentials_path() -> Path:
    return embedded_db.var_dir() / "sandbox" / "credentials.json"


def generate_password() -> str:
    groups = ("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)  # ~ 114 bits


def read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        passwords = json.loads(path.read_text(encoding="utf-8"))["passwords"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CommandError(
            f"Fichier d'identifiants illisible : {path} ({error}). Supprimez-le pour en générer de nouveaux."
        ) from None
    return {str(username): str(password) for username, password in passwords.items()}


def write_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "description": "Mots de passe des comptes de démonstration (load_sandbox). Ne pas publier.",
                "passwords": passwords,
            },
            handle,
            ensure_ascii=False,
            indent=2,
        )
        handle.write("\n")
    os.chmod(temporary, 0o600)  # os.open applies its mode only to a file it creates
    os.replace(temporary, path)


class Command(BaseCommand):
    help = (
        "Charge les données de démonstration : organisations, comptes pour chaque rôle et un usager. "
        "Idempotent : une deuxième exécution ne change rien."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Charger même si DEBUG est désactivé (jamais en production).",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusé : DEBUG est désactivé, cette instance ressemble à une production. Les comptes de "
                "démonstration n'y ont pas leur place ; relancez avec --force si c'est vraiment voulu."
            )
        self.changes = 0

        path = credentials_path()
        passwords = read_passwords(path)
        missing = [user.username for user in sandbox.USERS if user.username not in passwords]
        if missing:
            passwords.update({username: generate_password() for username in missing})
            write_passwords(path, passwords)
            self.step(f"Mots de passe générés pour {', '.join(missing)} dans {path}")
        else:
            self.step(f"Mots de passe repris de {path}")

        with transaction.atomic():
            organisations = {
                definition.key: self.load_organisation(definition) for definition in sandbox.ORGANISATIONS
            }
            rows = []
            for definition in sandbox.USERS:
                user = self.load_user(definition, passwords[definition.username])
                for key, role in definition.memberships:
                    self.load_membership(user, organisations[key], role)
                    rows.append((user.username, self.role_label(role, definition), organisations[key].name))
            for definition in sandbox.CITIZENS:
                self.load_citizen(definition)

        if self.changes:
            self.stdout.write(self.style.SUCCESS(f"Bac à sable chargé : {self.changes} modification(s)."))
        else:
            self.stdout.write(
                self.style.SUCCESS("Aucun changement : les données de démonstration étaient déjà en place.")
            )
        self.print_table(rows, passwords)

    # --- steps ------------------------------------------------------------------------------

    def step(self, message: str, *, changed: bool = False) -> None:
        if changed:
            self.changes += 1
        self.stdout.write(f"  {'+' if changed else '='} {message}")

    def load_organisation(self, definition: sandbox.SandboxOrganisation) -> Organisation:
        organisation = Organisation.objects.filter(siret=definition.siret).first()
        if organisation is not None:
            self.step(f"Organisation déjà présente : {organisation}")
            return organisation
        organisation = organisation_create(
            name=definition.name,
            siret=definition.siret,
            kind=definition.kind,
            commune_code=definition.commune_code,
            departement_code=definition.departement_code,
            region_code=definition.region_code,
        )
        self.step(f"Organisation créée : {organisation}", changed=True)
        return organisation

    def load_user(self, definition: sandbox.SandboxUser, password: str):
        User = get_user_model()
        user = User.objects.filter(username=definition.username).first()
        if user is None:
            fields = {
                "email": definition.email,
                "password": password,
                "first_name": definition.first_name,
                "last_name": definition.last_name,
                "kind": definition.kind,
            }
            if definition.superuser:
                user = User.objects.create_superuser(definition.username, **fields)
            else:
                user = User.objects.create_user(definition.username, **fields)
            self.step(f"Compte créé : {user.username}", changed=True)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password", "updated_at"])
            self.step(
                f"Mot de passe de {user.username} remis à la valeur de {credentials_path()}", changed=True
            )
        else:
            self.step(f"Compte déjà présent : {user.username}")
        return user

    def load_membership(self, user, organisation: Organisation, role: str) -> None:
        label = f"{user.username} — {MembershipRole(role).label} — {organisation.name}"
        if Membership.objects.filter(user=user, organisation=organisation, role=role).exists():
            self.step(f"Rôle déjà attribué : {label}")
            return
        membership_create(user=user, organisation=organisation, role=role)
        self.step(f"Rôle attribué : {label}", changed=True)

    def load_citizen(self, definition: sandbox.SandboxCitizen) -> None:
        User = get_user_model()
        if User.objects.filter(username=definition.username).exists():
            self.step(f"Usager déjà présent : {definition.username}")
            return
        User.objects.create_citizen(
            definition.username,
            first_name=definition.first_name,
            last_name=definition.last_name,
            email=definition.email,
        )
        self.step(f"Usager créé (sans mot de passe) : {definition.username}", changed=True)

    # --- output -----------------------------------------------------------------------------

    @staticmethod
    def role_label(role: str, definition: sandbox.SandboxUser) -> str:
        label = str(MembershipRole(role).label)
        return f"{label} (superutilisateur)" if definition.superuser else label

    @staticmethod
    def sign_in_of(definition: sandbox.SandboxUser) -> str:
        """Where the account signs in: staff in the admin (password and TOTP); agents and company
        representatives through the sandbox identity provider, as with ProConnect
        (identity/sandbox_idp/accounts.py has an account of the same name)."""
        from identity.enums import UserKind
        from identity.management.commands.load_sandbox_providers import REALMS
        from identity.sandbox_idp.accounts import find

        if definition.superuser or definition.kind == UserKind.STAFF:
            return f"{settings.PUBLIC_URL}/admin/"
        for _slug, name, realm, *_rest in REALMS:
            if find(realm, definition.username) is not None:
                return f"{settings.PUBLIC_URL}/identite/connexion/ → {name} → {definition.username}"
        return "—"

    def print_table(self, rows: list[tuple[str, str, str]], passwords: dict[str, str]) -> None:
        sign_in = {definition.username: self.sign_in_of(definition) for definition in sandbox.USERS}
        table = [("Identifiant", "Rôle", "Organisation", "Mot de passe", "Connexion")]
        table += [
            (username, role, name, passwords[username], sign_in[username]) for username, role, name in rows
        ]
        table += [
            (citizen.username, "Usager", "—", "aucun", "fournisseur d'identité de démonstration")
            for citizen in sandbox.CITIZENS
        ]
        widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
        self.stdout.write("")
        for index, row in enumerate(table):
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
