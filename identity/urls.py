from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("connexion/", views.choice, name="fi-choice"),
    path("fi/<slug:slug>/", views.start, name="fi-start"),
    path("fi/callback", views.callback, name="fi-callback"),
]
