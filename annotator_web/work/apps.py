from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "annotator_web.work"
    label = "work"
    verbose_name = "Work: task queues, leases, submissions"
