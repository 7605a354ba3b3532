from django.db import migrations

# Rows written before the roll-ups existed have none: count everything again from the journal (the beat
# task does it from id 0; the reset and the deletion commit together, so nothing counts twice).
RECOUNT = "DELETE FROM opendata_dailystat; UPDATE opendata_aggregationstate SET last_entry_id = 0, entries_aggregated = 0;"


class Migration(migrations.Migration):
    dependencies = [("opendata", "0002_statistics_cuboids")]

    operations = [migrations.RunSQL(sql=RECOUNT, reverse_sql=migrations.RunSQL.noop)]
