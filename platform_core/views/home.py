from django.http import HttpResponse


def home(request):
    return HttpResponse("Maillage")  # placeholder, replaced by the DSFR home page
