"""An authorization is the frozen content of a validated habilitation: PostgreSQL refuses any change to
it other than its state (active, then obsolete or revoked, never back) and end date, and its deletion.
Only dropping the trigger, a database owner's act, would allow more."""

from django.db import migrations

FROZEN = (
    "public_id", "habilitation_id", "version", "consumer_id", "api_id", "scopes", "fields", "recipients",
    "legal_basis", "snapshot", "valid_from", "valid_until", "validated_by_id", "created_at",
)  # fmt: skip

CREATE = f"""
CREATE FUNCTION exchange_authorization_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an authorization is never deleted (revoke it)' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF ({", ".join(f"NEW.{c}" for c in FROZEN)}) IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in FROZEN)}) THEN
        RAISE EXCEPTION 'an authorization is frozen: only its state and end date change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.state <> 'active' AND NEW.state IS DISTINCT FROM OLD.state THEN
        RAISE EXCEPTION 'an ended authorization stays ended' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER exchange_authorization_frozen BEFORE UPDATE OR DELETE ON exchange_authorization
    FOR EACH ROW EXECUTE FUNCTION exchange_authorization_frozen();
"""
DROP = """
DROP TRIGGER IF EXISTS exchange_authorization_frozen ON exchange_authorization;
DROP FUNCTION IF EXISTS exchange_authorization_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("exchange", "0001_catalogue_and_habilitations")]

    operations = [migrations.RunSQL(CREATE, DROP)]
