"""Journal format 2 (protection/canonical.py): fields joined by U+001F, payloads kept as canonical
``json`` text, and the leaf hashes of each sealed batch kept for proofs.

Seals of format 1 (a JSON object per entry) cannot be checked under format 2, and the journal is
append-only, so its entries cannot be rewritten either. Format 1 only ever existed before the first
release, in development and sandbox databases: their journal tables are emptied here (one TRUNCATE,
allowed for this transaction only) and the migration says how many rows went. The new leaves table
gets the append-only triggers of migration 0002.
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
import protection.models
from django.db import migrations, models

TABLES = [
    "protection_journalentry",
    "protection_seal",
    "protection_purgedbatch",
    "protection_verificationrun",
]
LEAVES = "protection_batchleaves"
TRIGGERS = f"""
CREATE TRIGGER {LEAVES}_no_change BEFORE UPDATE OR DELETE ON {LEAVES}
    FOR EACH ROW EXECUTE FUNCTION protection_journal_append_only();
CREATE TRIGGER {LEAVES}_no_truncate BEFORE TRUNCATE ON {LEAVES}
    FOR EACH STATEMENT EXECUTE FUNCTION protection_journal_append_only();
"""
DROP = f"DROP TRIGGER IF EXISTS {LEAVES}_no_change ON {LEAVES}; DROP TRIGGER IF EXISTS {LEAVES}_no_truncate ON {LEAVES};"


def empty_format_1_journal(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        counts = {}
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant table names
            counts[table] = cursor.fetchone()[0]
        if not any(counts.values()):
            return
        cursor.execute("SET LOCAL maillage.allow_truncate = 'on'")
        cursor.execute(f"TRUNCATE {', '.join(TABLES)}")
        cursor.execute("SET LOCAL maillage.allow_truncate = 'off'")
    removed = ", ".join(f"{count} in {table}" for table, count in counts.items())
    print(f"\n  journal format 2: the pre-release journal was emptied ({removed})")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [
        ("protection", "0003_verificationrun"),
    ]

    operations = [
        migrations.RunPython(empty_format_1_journal, migrations.RunPython.noop),
        migrations.CreateModel(
            name="BatchLeaves",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hashes", models.BinaryField(verbose_name="empreintes des feuilles")),
            ],
            options={
                "verbose_name": "feuilles d'un lot",
                "verbose_name_plural": "feuilles des lots",
            },
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="data",
            field=protection.models.CanonicalJSONField(blank=True, default=dict, verbose_name="données"),
        ),
        migrations.AddIndex(
            model_name="seal",
            index=models.Index(fields=["last_entry_id"], name="seal_last_entry_idx"),
        ),
        migrations.AddConstraint(
            model_name="journalentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    django.db.models.lookups.Exact(
                        django.db.models.functions.text.StrIndex(
                            django.db.models.functions.text.Concat(
                                "event_type",
                                "actor_type",
                                "actor_id",
                                "actor_label",
                                "organisation_id",
                                "subject",
                                "purpose",
                                "contract",
                                "outcome",
                                "request_id",
                                output_field=models.TextField(),
                            ),
                            django.db.models.functions.text.Chr(31),
                        ),
                        0,
                    )
                ),
                name="journal_no_separator",
            ),
        ),
        migrations.AddField(
            model_name="batchleaves",
            name="seal",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="leaves",
                to="protection.seal",
                verbose_name="sceau",
            ),
        ),
        migrations.RunSQL(sql=TRIGGERS, reverse_sql=DROP),
    ]
