"""/api/v1/journal/ (included by platform_core/api/urls.py)."""

from django.urls import path

from protection.api import views

urlpatterns = [
    path("entries/<str:public_id>/proof", views.EntryProofApi.as_view(), name="api-journal-entry-proof"),
    path("keys", views.SigningKeyListApi.as_view(), name="api-journal-keys"),
]
