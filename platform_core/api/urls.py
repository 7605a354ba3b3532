"""/api/v1/: the versioned REST API."""

from django.urls import include, path

from exchange.api import authorizations, batches, catalogue
from identity import api_v1 as fs
from platform_core.api import organisations

urlpatterns = [
    path("organisations/", organisations.OrganisationCollectionApi.as_view(), name="api-organisation-list"),
    path(
        "organisations/<str:public_id>",
        organisations.OrganisationDetailApi.as_view(),
        name="api-organisation-detail",
    ),
    path("catalogue/apis/", catalogue.ApiProductListApi.as_view(), name="api-catalogue-api-list"),
    path(
        "catalogue/apis/<slug:slug>", catalogue.ApiProductDetailApi.as_view(), name="api-catalogue-api-detail"
    ),
    path("batches/", batches.BatchCollectionApi.as_view(), name="api-batch-list"),
    path("batches/<uuid:public_id>", batches.BatchDetailApi.as_view(), name="api-batch-detail"),
    path(
        "batches/<uuid:public_id>/results.jsonl",
        batches.BatchResultsJsonlApi.as_view(),
        name="api-batch-results-jsonl",
    ),
    path(
        "batches/<uuid:public_id>/results.csv",
        batches.BatchResultsCsvApi.as_view(),
        name="api-batch-results-csv",
    ),
    path(
        "batches/webhook-secrets/",
        batches.WebhookSecretCollectionApi.as_view(),
        name="api-batch-webhook-secret-list",
    ),
    path(
        "batches/webhook-secrets/<uuid:public_id>",
        batches.WebhookSecretDetailApi.as_view(),
        name="api-batch-webhook-secret-detail",
    ),
    path("authorizations/active.json", authorizations.active_json, name="api-authorizations-json"),
    path("authorizations/active.csv", authorizations.active_csv, name="api-authorizations-csv"),
    path("journal/", include("protection.api.urls")),
    path("opendata/", include("opendata.api_urls")),
    path("service-providers/", fs.ServiceProviderCollectionApi.as_view(), name="api-service-provider-list"),
    path(
        "service-providers/<str:client_id>",
        fs.ServiceProviderDetailApi.as_view(),
        name="api-service-provider-detail",
    ),
    path(
        "service-providers/<str:client_id>/secret",
        fs.ServiceProviderSecretApi.as_view(),
        name="api-service-provider-secret",
    ),
]
