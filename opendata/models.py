"""Open-data statistics: a compact star table of daily counts, fed from the journal (opendata/aggregation.py).

Each row is one cell: a day (Europe/Paris), a metric and the dimensions the public can group by; plus
its roll-ups (``Cuboid``: fewer dimensions, or months) written by the same statement, so that a query
over a year reads thousands of rows instead of millions. A
dimension that does not apply to a metric (no identity provider for a data exchange) is "", never NULL,
so that the cell's unique key is total and ``INSERT … ON CONFLICT DO UPDATE`` can add to it.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DIMENSION_FIELDS = (
    "metric",
    "identity_provider",
    "service",
    "api",
    "organisation_kind",
    "departement",
    "region",
)


class Cuboid(models.IntegerChoices):
    """Which dimensions a row keeps (the others are rolled up to ""), and its grain: day, or month (the
    row's ``day`` is then the first of the month). The codes are PostgreSQL's GROUPING(day,
    identity_provider, organisation_kind) of the grouping set that makes them (opendata/aggregation.py).
    A query reads the smallest cuboid that has its dimensions; long ranges read months."""

    STAR = 0, _("toutes les dimensions, par jour")
    CATALOG = 1, _("indicateur, fournisseur d'identité, service, API, par jour")
    GEOGRAPHY = 2, _("indicateur, nature, département, région, par jour")
    STAR_MONTH = 4, _("toutes les dimensions, par mois")
    CATALOG_MONTH = 5, _("indicateur, fournisseur d'identité, service, API, par mois")
    GEOGRAPHY_MONTH = 6, _("indicateur, nature, département, région, par mois")


class DailyStat(models.Model):
    # Codes, compared byte for byte ("C"): the aggregation sorts and the unique index compares hundreds of
    # thousands of them per run, several times faster than under a linguistic collation.
    cuboid = models.PositiveSmallIntegerField(_("agrégat"), choices=Cuboid.choices, default=Cuboid.STAR)
    day = models.DateField(_("jour"))
    metric = models.CharField(_("indicateur"), max_length=32, db_collation="C")
    identity_provider = models.CharField(
        _("fournisseur d'identité"), max_length=64, blank=True, default="", db_collation="C"
    )
    service = models.CharField(
        _("fournisseur de service"), max_length=100, blank=True, default="", db_collation="C"
    )
    api = models.CharField(_("API"), max_length=64, blank=True, default="", db_collation="C")
    organisation_kind = models.CharField(
        _("nature de l'organisation"), max_length=32, blank=True, default="", db_collation="C"
    )
    departement = models.CharField(_("département"), max_length=3, blank=True, default="", db_collation="C")
    region = models.CharField(_("région"), max_length=2, blank=True, default="", db_collation="C")
    count = models.BigIntegerField(_("nombre"))

    class Meta:
        verbose_name = _("statistique quotidienne")
        verbose_name_plural = _("statistiques quotidiennes")
        ordering = ["cuboid", "day", "metric"]
        constraints = [
            # The conflict target of the aggregation's upsert. Its leading (cuboid, day) serves every query
            # (a cuboid over a date range). No other index: each would slow the upsert of every cell for
            # filters the small cuboids serve well enough; and count stays out of it, so that adding to a
            # cell is a HOT update.
            models.UniqueConstraint(fields=["cuboid", "day", *DIMENSION_FIELDS], name="opendata_stat_cell"),
            models.CheckConstraint(name="opendata_dailystat_count_positive", condition=models.Q(count__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.count}"


class AggregationState(models.Model):
    """The high-water mark: every journal entry with id <= last_entry_id is counted in DailyStat, once.

    One row (name "journal"), updated in the transaction that adds the counts it covers.
    """

    name = models.CharField(_("nom"), max_length=32, primary_key=True)
    last_entry_id = models.BigIntegerField(_("dernière entrée agrégée"), default=0)
    entries_aggregated = models.BigIntegerField(_("entrées agrégées"), default=0)
    updated_at = models.DateTimeField(_("mise à jour le"), default=timezone.now)

    class Meta:
        verbose_name = _("état de l'agrégation")
        verbose_name_plural = _("états de l'agrégation")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ≤ {self.last_entry_id}"


class StatisticsVersion(models.Model):
    """A token that changes with every write to DailyStat, set by a statement trigger in that write's
    transaction (migration 0005): cached answers are keyed by it (opendata/selectors.py), so none outlives
    the figures it was computed from, whoever writes them (aggregation, rebuild, a test).

    One row. A random UUID rather than a counter: a rolled-back write, or a database created again, never
    gives a value some cached answer already carries.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.UUIDField(_("jeton"))

    class Meta:
        verbose_name = _("version des statistiques")
        verbose_name_plural = _("versions des statistiques")
        constraints = [
            models.CheckConstraint(name="opendata_statisticsversion_one_row", condition=models.Q(id=1))
        ]

    def __str__(self) -> str:
        return str(self.token)
