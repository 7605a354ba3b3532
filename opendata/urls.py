"""The public statistics page."""

from django.urls import path

from opendata import views

app_name = "opendata"

urlpatterns = [
    path("statistiques", views.statistics, name="statistics"),
]
