from django.conf import settings
from django.db import models

from annotator_web.data.models import Person, Project
from pipeline import preannotate


class Task(models.Model):
    """One stage of the work on one person: part masks (stage 1) or correspondences (stage 2)."""

    class Stage(models.IntegerChoices):
        MASKS = 1, "part masks"
        POINTS = 2, "correspondences"

    class State(models.TextChoices):
        PENDING = "pending"  # in the queue
        LEASED = "leased"  # an annotator holds it until lease_expires_at
        SUBMITTED = "submitted"  # a worker is processing the submission
        REVIEW = "review"  # processed, waiting for a reviewer
        DONE = "done"  # accepted; the next stage (if any) is queued
        SKIPPED = "skipped"  # the annotator could not annotate the person (skip_reason); waits for an admin

    class SkipReason(models.TextChoices):
        HIDDEN = "hidden", "mostly hidden (occluded or cut off)"
        TOO_SMALL = "too_small", "too small or blurred to tell the parts"
        NOT_A_PERSON = "not_a_person", "not a person, or the box is wrong"
        SEVERAL = "several_people", "several people in the box"
        OTHER = "other", "something else (say what)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="tasks")
    stage = models.PositiveSmallIntegerField(choices=Stage.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    priority = models.IntegerField(default=0, help_text="higher first")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    draft = models.JSONField(null=True, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True, default="", help_text="why the last review rejected it")
    reserved_for = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reserved_tasks",
        help_text="rejected work waits for its author: only they (or an admin's assignment) take it",
    )
    rejections = models.PositiveIntegerField(default=0)
    skip_reason = models.CharField(max_length=32, blank=True, default="", choices=SkipReason.choices)
    skip_note = models.TextField(blank=True, default="", help_text="the annotator's words when they skipped")
    flagged_points = models.JSONField(
        default=list, blank=True, help_text="stage 2: the points the last rejection sends back (sampled point ids)"
    )
    proposal = models.JSONField(
        null=True, blank=True, help_text="what a model proposed for this task (pre-annotation): see densepose_io"
    )
    processing_error = models.TextField(
        blank=True,
        default="",
        help_text="why processing the last submission stopped (the work went back to its author)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-priority", "id")
        constraints = [models.UniqueConstraint(fields=("person", "stage"), name="one_task_per_person_stage")]
        indexes = [
            models.Index(fields=("project", "stage", "state", "-priority", "id")),
            # the queue's order among the tasks it may hand out (pending, or leased with a lease that may have expired):
            # the next task is the first row that qualifies, not a sort of every pending task of the project
            models.Index(
                fields=("project", "stage", "-priority", "id"),
                condition=models.Q(state__in=("pending", "leased")),
                name="task_queue_order",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk}: stage {self.stage} of person {self.person_id} ({self.state})"


class Submission(models.Model):
    """What an annotator submitted. ``key`` is chosen by the client: submitting twice stores one."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="submissions")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    key = models.CharField(max_length=64)
    data = models.JSONField()
    seconds_spent = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("task", "key"), name="one_submission_per_key")]

    def __str__(self) -> str:
        return f"submission {self.pk} of task {self.task_id}"


class Origin(models.TextChoices):
    """Where a stored answer comes from (see :mod:`pipeline.preannotate`)."""

    CLICK = preannotate.CLICK, "annotated, no proposal"
    CONFIRMED = preannotate.CONFIRMED, "a model's proposal, confirmed as it was"
    CORRECTED = preannotate.CORRECTED, "a model's proposal, corrected"


class PartMasks(models.Model):
    """Stage 1's result: the 14 part masks of a person (DensePose dp_masks, 256 × 256 box frame, RLE). A version:
    every processed submission (and import) adds one and none is rewritten or deleted; ``current`` marks the one
    that is the person's answer now (at most one a person)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="part_masks")
    dp_masks = models.JSONField()
    submission = models.ForeignKey(Submission, null=True, on_delete=models.SET_NULL)
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.CLICK)
    changed_pixels = models.PositiveIntegerField(
        null=True, blank=True, help_text="pixels of the box frame whose label differs from the proposal's"
    )
    current = models.BooleanField(default=True, help_text="the person's stage-1 answer now (one version a person)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "part masks"
        verbose_name_plural = "part masks"
        constraints = [
            models.UniqueConstraint(fields=("person",), condition=models.Q(current=True), name="one_current_masks")
        ]

    def __str__(self) -> str:
        return f"part masks of person {self.person_id}{'' if self.current else ' (an earlier version)'}"


class SampledPoint(models.Model):
    """A point sampled by k-means inside a part mask, shown in stage 2 (box frame, 256 scale). Each part-masks
    version has its own points; those of the current version are ``current`` (the stage-2 task asks them)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="sampled_points")
    masks = models.ForeignKey(
        PartMasks,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="points",
        help_text="the part-masks version it was sampled from",
    )
    part = models.PositiveSmallIntegerField()
    order = models.PositiveSmallIntegerField()
    box_x = models.FloatField()
    box_y = models.FloatField()
    current = models.BooleanField(default=True, help_text="one of the points the person's stage 2 asks now")

    class Meta:
        ordering = ("person_id", "part", "order")
        constraints = [
            models.UniqueConstraint(
                fields=("person", "part", "order"), condition=models.Q(current=True), name="one_current_point_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"point {self.order} of part {self.part} of person {self.person_id}"


class Correspondence(models.Model):
    """Stage 2's answer for one sampled point: where on the body it is, or that it cannot be told. A version, as
    part masks are: a new submission's answers become ``current`` and the earlier ones stay."""

    class Status(models.TextChoices):
        OK = "ok"
        NOT_VISIBLE = "not_visible"
        UNSURE = "unsure"

    point = models.ForeignKey(SampledPoint, on_delete=models.CASCADE, related_name="answers")
    status = models.CharField(max_length=16, choices=Status.choices)
    view = models.PositiveSmallIntegerField(null=True, blank=True)
    click_x = models.FloatField(null=True, blank=True)
    click_y = models.FloatField(null=True, blank=True)
    face = models.IntegerField(null=True, blank=True)
    bary = models.JSONField(null=True, blank=True)
    chart = models.PositiveSmallIntegerField(null=True, blank=True, help_text="DensePose I")
    u = models.FloatField(null=True, blank=True)
    v = models.FloatField(null=True, blank=True)
    surface = models.JSONField(null=True, blank=True, help_text="3-D point on the template, metres")
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.CLICK)
    seconds_spent = models.FloatField(default=0.0)
    submission = models.ForeignKey(Submission, null=True, on_delete=models.SET_NULL)
    current = models.BooleanField(default=True, help_text="the point's answer now (one version a point)")
    carried_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the answer this one repeats: the same point (part, box position), sampled again",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("point",), condition=models.Q(current=True), name="one_current_answer")
        ]

    def __str__(self) -> str:
        return f"{self.status} answer for point {self.point_id}{'' if self.current else ' (an earlier version)'}"


class Review(models.Model):
    class Decision(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reviews")
    submission = models.ForeignKey(Submission, null=True, on_delete=models.SET_NULL)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True, default="")
    points = models.JSONField(default=list, blank=True, help_text="stage 2: the points a rejection flagged")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.decision} of task {self.task_id}"


class AuditEvent(models.Model):
    """Who did what to which task, and when."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=32, db_index=True)
    project = models.ForeignKey(Project, null=True, on_delete=models.CASCADE)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} task {self.task_id}"
