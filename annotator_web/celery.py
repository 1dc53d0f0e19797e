"""The Celery application. Configuration comes from Django settings (keys prefixed CELERY_)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator_web.settings")

app = Celery("annotator_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
