from django.apps import AppConfig


class DataConfig(AppConfig):
    name = "annotator_web.data"
    label = "data"
    verbose_name = "Data: projects, images, people"
