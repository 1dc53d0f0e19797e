"""The queue API's answers, declared for the OpenAPI schema (see ``annotator_web.core.responses``)."""

from rest_framework import serializers

from annotator_web.work.models import Task


class ImageRef(serializers.Serializer):
    id = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    url = serializers.CharField()


class PersonRef(serializers.Serializer):
    id = serializers.IntegerField()
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)
    image = ImageRef()


class PointRef(serializers.Serializer):
    id = serializers.IntegerField()
    part = serializers.IntegerField(min_value=1, max_value=14)
    order = serializers.IntegerField()
    box_x = serializers.FloatField()
    box_y = serializers.FloatField()


class TaskResponse(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField()
    stage = serializers.IntegerField(min_value=1, max_value=2)
    state = serializers.ChoiceField(Task.State.choices)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    assignee = serializers.CharField(allow_null=True)
    review_comment = serializers.CharField(allow_blank=True)
    draft = serializers.JSONField(allow_null=True)
    person = PersonRef()
    expected_parts = serializers.ListField(child=serializers.IntegerField(), required=False,
                                           help_text="stage 1: parts the person obviously shows")  # fmt: skip
    points = PointRef(many=True, required=False, help_text="stage 2: the sampled points, in the box frame")
    body = serializers.JSONField(required=False, allow_null=True, help_text="stage 2: where the views are")


class ReviewTaskResponse(TaskResponse):
    submission = serializers.JSONField(allow_null=True, help_text="what the annotator submitted")


class DraftSavedResponse(serializers.Serializer):
    saved_at = serializers.DateTimeField()
    lease_expires_at = serializers.DateTimeField()


class SubmittedResponse(serializers.Serializer):
    submission = serializers.IntegerField()
    created = serializers.BooleanField(help_text="false when this key was submitted before")


class CreatedResponse(serializers.Serializer):
    created = serializers.IntegerField()


class UpdatedResponse(serializers.Serializer):
    updated = serializers.IntegerField()


class PausedResponse(serializers.Serializer):
    paused = serializers.BooleanField()


class UploadResponse(serializers.Serializer):
    id = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    people = serializers.IntegerField(help_text="people added (a box the image already has is not added again)")
