from django.apps import AppConfig


class DensePoseIOConfig(AppConfig):
    name = "annotator_web.densepose_io"
    label = "densepose_io"
    verbose_name = "DensePose I/O: export, import, evaluation and training on the export"
