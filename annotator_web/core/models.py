from django.conf import settings
from django.db import models


class Job(models.Model):
    """A long-running piece of work done by a Celery worker, visible to users as a resource."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=64, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0 to 100")
    message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    result_path = models.CharField(
        max_length=500, blank=True, default="", help_text="file under MEDIA_ROOT, served by the job's result link"
    )
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    queue = models.CharField(max_length=32, default="default")
    attempts = models.PositiveIntegerField(default=0, help_text="how many times a worker has started it")
    worker = models.CharField(max_length=200, blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when its message last went to the broker")
    sends = models.PositiveIntegerField(default=0, help_text="messages sent for it (a lost one is sent again)")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("state", "heartbeat_at"))]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED_STATES


class LoginFailure(models.Model):
    """A failed login, kept for the throttling window (see ``annotator_web.core.auth``)."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"failed login of {self.username!r} from {self.address} at {self.at}"
