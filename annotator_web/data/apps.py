from django.apps import AppConfig


class DataConfig(AppConfig):
    name = "annotator_web.data"
    label = "data"
    verbose_name = "Data: projects, images, people"

    def ready(self) -> None:
        from annotator_web.data import synthetic  # noqa: F401  (registers the make_synthetic job kind)
