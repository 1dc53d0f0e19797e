"""The queue API's answers, declared for the OpenAPI schema (see ``annotator_web.core.responses``)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator_web.work.models import Task
from annotator_web.work.services import ANSWER_STATUSES
from pipeline.render.views import VIEWS_PER_PART

RLE_SCHEMA = {
    "type": "object",
    "properties": {
        "size": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
        "counts": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]},
    },
    "required": ["size", "counts"],
}


@extend_schema_field({"oneOf": [RLE_SCHEMA, {"type": "array", "maxItems": 0}]})
class DpMaskField(serializers.JSONField):
    """One of the 14 dp_masks: a COCO RLE in the 256 x 256 box frame, or [] for a part not shown."""


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


class AnswerData(serializers.Serializer):
    point = serializers.IntegerField(help_text="a sampled point's id")
    status = serializers.ChoiceField(ANSWER_STATUSES)
    view = serializers.IntegerField(min_value=0, max_value=VIEWS_PER_PART - 1, required=False)
    x = serializers.FloatField(required=False, help_text="the click in the view's pixels")
    y = serializers.FloatField(required=False)
    confirmed = serializers.BooleanField(required=False, help_text="a flagged point's answer, confirmed unchanged")


class WorkData(serializers.Serializer):
    """A draft or a submission: stage 1 the part masks, stage 2 the answers (and, in a draft, where the
    annotator is)."""

    dp_masks = serializers.ListField(child=DpMaskField(), required=False, help_text="14 entries, in part order")
    answers = AnswerData(many=True, required=False)
    current = serializers.IntegerField(required=False, help_text="draft, stage 2: the point shown")


class BodyRef(serializers.Serializer):
    name = serializers.CharField()
    key = serializers.CharField(help_text="the asset build the URLs name (they cache)")
    bundle_url = serializers.CharField(help_text="with {part}: the part's view bundle")
    picture_url = serializers.CharField(help_text="with {part} and {view}: one of the six pictures")


class PartConfidence(serializers.Serializer):
    part = serializers.IntegerField(min_value=1, max_value=14)
    confidence = serializers.FloatField(help_text="the model's mean probability over the part's pixels")


class ProposedPoint(serializers.Serializer):
    point = serializers.IntegerField(help_text="a sampled point's id")
    view = serializers.IntegerField(min_value=0, max_value=VIEWS_PER_PART - 1)
    x = serializers.FloatField(help_text="where the proposed surface point shows in the view, pixels")
    y = serializers.FloatField()
    confidence = serializers.FloatField(allow_null=True, help_text="the model's probability of the chart")


class Proposal(serializers.Serializer):
    """What a model proposed (pre-annotation): confirm it or correct it."""

    source = serializers.CharField(help_text="the model: a checkpoint, or the truth plus noise of a known size")
    made_at = serializers.DateTimeField(allow_null=True)
    dp_masks = serializers.ListField(child=DpMaskField(), required=False, help_text="stage 1: 14 entries")
    confidence = PartConfidence(many=True, required=False, help_text="stage 1: per proposed part")
    points = ProposedPoint(many=True, required=False, help_text="stage 2: the points it has a proposal for")


class TaskResponse(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField()
    stage = serializers.ChoiceField([1, 2], help_text="1: part masks, 2: correspondences")
    state = serializers.ChoiceField(Task.State.choices)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    assignee = serializers.CharField(allow_null=True)
    review_comment = serializers.CharField(allow_blank=True)
    draft = WorkData(allow_null=True)
    person = PersonRef()
    expected_parts = serializers.ListField(child=serializers.IntegerField(), required=False,
                                           help_text="stage 1: parts the person obviously shows")  # fmt: skip
    seen_from = serializers.ChoiceField(["front", "back"], required=False, allow_null=True,
                                        help_text="stage 1: the camera sees the person from the front or from "
                                                  "behind, by the keypoints (null: cannot tell)")  # fmt: skip
    points = PointRef(many=True, required=False, help_text="stage 2: the sampled points, in the box frame")
    body = BodyRef(required=False, allow_null=True, help_text="stage 2: where the views are")
    flagged_points = serializers.ListField(child=serializers.IntegerField(), required=False,
                                           help_text="stage 2: the points a reviewer sent back to redo (none: "
                                                     "all)")  # fmt: skip
    flagged_answers = AnswerData(
        many=True,
        required=False,
        help_text="stage 2: the answers the reviewer sent back for the flagged points; each "
        "is answered again or confirmed unchanged",
    )
    proposal = Proposal(allow_null=True, help_text="a model's proposal for this task, if it has one")


class OverviewSpot(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    visible = serializers.BooleanField(help_text="the body shows the point from this side")


class OverviewPoint(serializers.Serializer):
    point = serializers.IntegerField()
    status = serializers.CharField(allow_null=True)
    chart = serializers.IntegerField(allow_null=True)
    origin = serializers.CharField(allow_null=True, help_text="click, or a model's proposal confirmed or corrected")
    residual_m = serializers.FloatField(allow_null=True, help_text="distance from where its neighbours put it")
    suspect = serializers.BooleanField(help_text="residual above suspect_m: look at it first")
    at = OverviewSpot(many=True, allow_null=True, help_text="on the front and back pictures (answered points)")
    side = serializers.IntegerField(allow_null=True, help_text="the picture to draw it on: one that shows it, "
                                    "else the one it lies least behind the body in")  # fmt: skip


class Overview(serializers.Serializer):
    sides = serializers.ListField(child=serializers.CharField())
    pictures = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    suspect_m = serializers.FloatField()
    points = OverviewPoint(many=True)


class ReviewRef(serializers.Serializer):
    decision = serializers.ChoiceField(["accept", "reject"])
    comment = serializers.CharField(allow_blank=True)
    points = serializers.ListField(child=serializers.IntegerField(), help_text="stage 2: the points it flagged")
    reviewer = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()


class PartChange(serializers.Serializer):
    part = serializers.IntegerField(min_value=1, max_value=14)
    name = serializers.CharField()
    pixels = serializers.IntegerField(help_text="pixels of the 256 x 256 box frame whose label changed")


class AnswerChange(serializers.Serializer):
    point = serializers.IntegerField()
    before = serializers.ChoiceField(ANSWER_STATUSES, allow_null=True)
    after = serializers.ChoiceField(ANSWER_STATUSES)
    moved_m = serializers.FloatField(allow_null=True, help_text="how far the surface point moved (straight line)")


class Changes(serializers.Serializer):
    """What changed from the submission before: stage 1 pixels (per part), stage 2 answers."""

    pixels = serializers.IntegerField(required=False)
    parts = PartChange(many=True, required=False)
    unchanged = serializers.IntegerField(required=False)
    changed = AnswerChange(many=True, required=False)


class Resubmission(serializers.Serializer):
    number = serializers.IntegerField(help_text="which submission of the task this is (2: the first resubmission)")
    earlier_review = ReviewRef(allow_null=True)
    changes = Changes()


class HistoryEntry(serializers.Serializer):
    submission = serializers.IntegerField()
    author = serializers.CharField(allow_null=True, help_text="none: imported")
    submitted_at = serializers.DateTimeField()
    seconds_spent = serializers.FloatField()
    review = ReviewRef(allow_null=True)
    data = WorkData()
    changes = Changes(allow_null=True)


class HistoryResponse(serializers.Serializer):
    task = serializers.IntegerField()
    stage = serializers.IntegerField()
    submissions = HistoryEntry(many=True)


class ReviewTaskResponse(TaskResponse):
    submission = WorkData(allow_null=True, help_text="what the annotator submitted")
    resubmission = Resubmission(required=False, allow_null=True, help_text="when it is not the task's first")
    overview = Overview(required=False, allow_null=True, help_text="stage 2: every answer on the whole body")
    origins = serializers.DictField(child=serializers.IntegerField(), required=False,
                                    help_text="pre-annotated work: how many answers are the model's proposal "
                                              "confirmed, corrected, or clicks")  # fmt: skip


class DraftSavedResponse(serializers.Serializer):
    saved_at = serializers.DateTimeField()
    lease_expires_at = serializers.DateTimeField()


class SkippedResponse(serializers.Serializer):
    task = serializers.IntegerField()
    state = serializers.CharField(help_text="skipped")
    reason = serializers.CharField()


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
