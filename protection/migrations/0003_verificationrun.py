"""Verification runs: insert-only, like the other journal tables (same triggers as migration 0002)."""

from django.db import migrations, models

TABLE = "protection_verificationrun"
# protection_journal_append_only() (migration 0002) refuses UPDATE and DELETE here (the purge exception
# is for journal entries only) and TRUNCATE outside the test connections.
TRIGGERS = f"""
CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION protection_journal_append_only();
CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION protection_journal_append_only();
"""
DROP = f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}; DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};"


class Migration(migrations.Migration):
    dependencies = [
        ("protection", "0002_journal_append_only"),
    ]

    operations = [
        migrations.CreateModel(
            name="VerificationRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField(verbose_name="commencée le")),
                ("finished_at", models.DateTimeField(verbose_name="terminée le")),
                (
                    "first_batch",
                    models.PositiveBigIntegerField(blank=True, null=True, verbose_name="premier lot"),
                ),
                (
                    "last_batch",
                    models.PositiveBigIntegerField(blank=True, null=True, verbose_name="dernier lot"),
                ),
                (
                    "entries_checked",
                    models.PositiveBigIntegerField(default=0, verbose_name="entrées vérifiées"),
                ),
                ("ok", models.BooleanField(verbose_name="conforme")),
                (
                    "failing_batch",
                    models.PositiveBigIntegerField(blank=True, null=True, verbose_name="lot en échec"),
                ),
                (
                    "failing_entry",
                    models.BigIntegerField(blank=True, null=True, verbose_name="entrée en échec"),
                ),
                ("message", models.CharField(blank=True, max_length=500, verbose_name="message")),
            ],
            options={
                "verbose_name": "vérification du journal",
                "verbose_name_plural": "vérifications du journal",
                "ordering": ["-id"],
            },
        ),
        migrations.RunSQL(sql=TRIGGERS, reverse_sql=DROP),
    ]
