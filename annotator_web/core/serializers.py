from django.urls import reverse
from rest_framework import serializers

from annotator_web.core import jobs
from annotator_web.core.models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    result_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = (
            "id",
            "url",
            "kind",
            "title",
            "params",
            "state",
            "progress",
            "message",
            "result",
            "result_url",
            "error",
            "created_by",
            "queue",
            "attempts",
            "worker",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        )
        read_only_fields = fields

    def get_title(self, job: Job) -> str:
        kind = jobs.kinds().get(job.kind)
        return kind.title if kind else job.kind

    def get_url(self, job: Job) -> str:
        return reverse("job-detail", args=[job.pk])

    def get_result_url(self, job: Job) -> str | None:
        if job.state != Job.State.SUCCEEDED or not job.result_path:
            return None
        return reverse("job-result", args=[job.pk])


class JobStartSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
