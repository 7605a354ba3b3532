from django.shortcuts import render


def home(request):
    return render(request, "platform_core/home.html")


def about(request):
    return render(request, "platform_core/about.html")
