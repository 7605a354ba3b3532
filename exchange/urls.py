"""HTML pages of the exchange hub."""

from django.urls import path

from exchange.views import catalogue

app_name = "exchange"

urlpatterns = [
    path("catalogue/", catalogue.catalogue, name="catalogue"),
    path("catalogue/<slug:slug>/", catalogue.api_detail, name="api-detail"),
    path("catalogue/<slug:slug>/openapi.json", catalogue.api_openapi, name="api-openapi"),
]
