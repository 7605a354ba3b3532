from django.urls import path

from platform_core.views import home

urlpatterns = [
    path("", home.home, name="home"),
    path("a-propos/", home.about, name="about"),
]
