"""HTML pages of the exchange hub."""

from django.urls import path

from exchange.views import catalogue, credentials, habilitations

app_name = "exchange"

urlpatterns = [
    path("catalogue/", catalogue.catalogue, name="catalogue"),
    path("catalogue/<slug:slug>/", catalogue.api_detail, name="api-detail"),
    path("catalogue/<slug:slug>/openapi.json", catalogue.api_openapi, name="api-openapi"),
    path("habilitations/", habilitations.habilitation_list, name="habilitation-list"),
    path("habilitations/nouvelle/", habilitations.habilitation_new, name="habilitation-new"),
    path("habilitations/<uuid:public_id>/", habilitations.habilitation_detail, name="habilitation-detail"),
    path(
        "habilitations/<uuid:public_id>/modifier/", habilitations.habilitation_edit, name="habilitation-edit"
    ),
    path(
        "habilitations/<uuid:public_id>/actions/",
        habilitations.habilitation_action,
        name="habilitation-action",
    ),
    path(
        "habilitations/<uuid:public_id>/messages/",
        habilitations.habilitation_post_message,
        name="habilitation-message",
    ),
    path(
        "habilitations/<uuid:public_id>/fondement-juridique.pdf",
        habilitations.habilitation_legal_basis,
        name="habilitation-legal-basis",
    ),
    path("identifiants/", credentials.credential_list, name="credential-list"),
    path("identifiants/<uuid:public_id>/", credentials.credential_detail, name="credential-detail"),
    path("identifiants/<uuid:public_id>/secret/", credentials.credential_rotate, name="credential-rotate"),
    path(
        "identifiants/<uuid:public_id>/revocation/",
        credentials.credential_revoke_view,
        name="credential-revoke",
    ),
    path(
        "identifiants/<uuid:public_id>/adresses/",
        credentials.credential_allowlist,
        name="credential-allowlist",
    ),
]
