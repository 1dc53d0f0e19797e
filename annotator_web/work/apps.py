from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "annotator_web.work"
    label = "work"
    verbose_name = "Work: task queues, leases, submissions"

    def ready(self) -> None:
        from annotator_web.work import export, processing, study, training_job  # noqa: F401  (register their job kinds)
