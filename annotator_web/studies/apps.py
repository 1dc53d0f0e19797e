from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "annotator_web.studies"
    label = "studies"
    verbose_name = "Studies: the queue dashboard's figures, synthetic projects, simulated annotators, accuracy"
