"""The root URL configuration: each app's own routes."""

from django.contrib import admin
from django.urls import include, path, register_converter

from annotator_web.core.converters import IdConverter

register_converter(IdConverter, "id")  # <id:pk> in every app's routes

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("annotator_web.core.urls")),
    path("", include("annotator_web.work.urls")),
    path("", include("annotator_web.studies.urls")),
]
