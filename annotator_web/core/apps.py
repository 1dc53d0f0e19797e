from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "annotator_web.core"
    label = "core"
    verbose_name = "Core: users, roles and jobs"

    def ready(self) -> None:
        # Job kinds register themselves on import; the web process needs them to start jobs.
        from annotator_web.core import tasks, worker_signals  # noqa: F401
