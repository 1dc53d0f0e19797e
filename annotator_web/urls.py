from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "DensePose data factory — administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("annotator_web.core.urls")),
]
