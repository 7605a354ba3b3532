from django.urls import path

from identity import op_views, views

app_name = "identity"

urlpatterns = [
    path("connexion/", views.choice, name="fi-choice"),
    path("fi/<slug:slug>/", views.start, name="fi-start"),
    path("fi/callback", views.callback, name="fi-callback"),
    path("deconnexion/", views.sign_out, name="sign-out"),
    path("fi/deconnexion", views.signed_out, name="fi-signed-out"),
    path("autorisation/<str:interaction>/", op_views.resume, name="op-resume"),
    path("mon-espace/", views.my_space, name="my-space"),
    path("mon-espace/consentements/", views.revoke_consent, name="revoke-consent"),
    path("mon-espace/fournisseurs/", views.block_provider, name="block-provider"),
]
