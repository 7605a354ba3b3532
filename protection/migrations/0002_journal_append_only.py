"""PostgreSQL refuses UPDATE, DELETE and TRUNCATE on the journal tables.

Two narrow exceptions, both set with SET LOCAL (for one transaction only):
- ``maillage.journal_purge = 'on'`` lets the retention purge DELETE journal entries (whole sealed
  batches; see protection/purge.py); seals and purge records are never deleted.
- ``maillage.allow_truncate = 'on'`` lets Django's test framework empty the tables between tests
  (tests/settings.py sets it for the test connections only).
"""

from django.db import migrations

TABLES = ["protection_journalentry", "protection_seal", "protection_purgedbatch"]

FUNCTION = """
CREATE OR REPLACE FUNCTION protection_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'protection_journalentry'
       AND current_setting('maillage.journal_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('maillage.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the journal is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

TRIGGERS = "\n".join(
    f"""
CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION protection_journal_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION protection_journal_append_only();
"""
    for table in TABLES
)

DROP = "\n".join(
    f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}; DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};"
    for table in TABLES
) + "\nDROP FUNCTION IF EXISTS protection_journal_append_only();"


class Migration(migrations.Migration):
    dependencies = [("protection", "0001_journal")]

    operations = [migrations.RunSQL(sql=FUNCTION + TRIGGERS, reverse_sql=DROP)]
