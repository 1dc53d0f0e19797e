"""The studies' routes: the Queues page."""

from django.urls import path

from annotator_web.studies import views

urlpatterns = [
    path("queues/", views.dashboard, name="queues-page"),
]
