"""/api/v1/: the versioned REST API."""

from django.urls import include, path

from platform_core.api import organisations

urlpatterns = [
    path("organisations/", organisations.OrganisationCollectionApi.as_view(), name="api-organisation-list"),
    path(
        "organisations/<str:public_id>",
        organisations.OrganisationDetailApi.as_view(),
        name="api-organisation-detail",
    ),
    path("journal/", include("protection.api.urls")),
]
