from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from pipeline.parts import MAX_POINTS_PER_PART


class Project(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True, default="")
    body_model = models.CharField(max_length=20, default="anny")
    points_per_part = models.PositiveSmallIntegerField(
        default=MAX_POINTS_PER_PART, validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_PART)]
    )
    review_fraction = models.FloatField(default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    preannotated_review_fraction = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="the share of pre-annotated work (a model proposed it) that goes to review",
    )
    lease_minutes = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    paused = models.BooleanField(default=False)
    allow_self_review = models.BooleanField(
        default=False, help_text="let reviewers accept or reject their own submissions (recorded in the audit trail)"
    )
    synthetic = models.BooleanField(default=False, help_text="images rendered with known ground truth")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="member_projects",
        help_text="the annotators and reviewers who work on this project; none = open to all of them",
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


def project_names() -> list[str]:
    """Every project's name (the choices of a job parameter that names a project)."""
    return list(Project.objects.order_by("name").values_list("name", flat=True))


def images_folder(project_id: int) -> str:
    """Where a project's image files live, under MEDIA_ROOT."""
    return f"projects/{project_id}/images"


def image_path(image: "Image", filename: str) -> str:
    return f"{images_folder(image.project_id)}/{filename}"


class Image(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload"
        COCO = "coco"
        SYNTHETIC = "synthetic"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=image_path)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    source_id = models.CharField(max_length=200, blank=True, default="", help_text="id in the source data set")
    split = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_index=True,
        help_text="data split (train, val, …); exports can pick one",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("project", "source", "source_id"), condition=~models.Q(source_id=""), name="unique_source_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.name}/{self.file.name.rsplit('/', 1)[-1]}"


class Person(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="people")
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField(validators=[MinValueValidator(1.0)])
    h = models.FloatField(validators=[MinValueValidator(1.0)])
    keypoints = models.JSONField(null=True, blank=True, help_text="COCO: 17 × (x, y, v)")
    source_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("image_id", "id")

    @property
    def bbox(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]

    def __str__(self) -> str:
        return f"person {self.pk} in {self.image}"


def truth_path(truth: "ImageTruth", filename: str) -> str:
    return f"truth/{truth.image.project_id}/{filename}"


class ImageTruth(models.Model):
    """Exact ground truth of a synthetic image. Never exposed to annotators or through the API; only the
    accuracy study and evaluation jobs read it."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="truth")
    file = models.FileField(upload_to=truth_path, help_text="npz: per-pixel instance, part, I, U, V, face, ...")
    people = models.JSONField(default=list, help_text="per person: index, bbox, keypoints, pose, perfect answers")
    generator = models.JSONField(default=dict, help_text="seed, index, body model, asset key")

    def __str__(self) -> str:
        return f"truth of {self.image}"
