"""/api/v1/opendata/ (included by platform_core/api/urls.py)."""

from django.urls import path

from opendata import api

urlpatterns = [
    path("stats", api.StatsApi.as_view(), name="api-opendata-stats"),
    path("stats.csv", api.StatsCsvApi.as_view(), {"format": "csv"}, name="api-opendata-stats-csv"),
    path("key-figures", api.KeyFiguresApi.as_view(), name="api-opendata-key-figures"),
    path("organisations", api.OrganisationsApi.as_view(), name="api-opendata-organisations"),
    path(
        "organisations.csv",
        api.OrganisationsCsvApi.as_view(),
        {"format": "csv"},
        name="api-opendata-organisations-csv",
    ),
    path("seals", api.SealsApi.as_view(), name="api-opendata-seals"),
    path("seals.csv", api.SealsCsvApi.as_view(), {"format": "csv"}, name="api-opendata-seals-csv"),
    path("schema.json", api.SchemaApi.as_view(), name="api-opendata-schema"),
    path("catalog.json", api.CatalogApi.as_view(), name="api-opendata-catalog"),
]
