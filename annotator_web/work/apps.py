from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "annotator_web.work"
    label = "work"
    verbose_name = "Work: task queues, leases, submissions"

    def ready(self) -> None:
        from annotator_web.work import processing  # noqa: F401  (registers the job kind)
