"""Pre-annotate a project's pending tasks with a model: its proposals become the annotators' starting point."""

from django.core.management.base import BaseCommand, CommandError

from annotator_web.data.models import Project
from annotator_web.densepose_io.preannotate import (
    ENTROPY,
    KNOWN,
    MIRROR,
    MODEL,
    PreannotateError,
    preannotate_project,
)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--checkpoint", default="", help="a training run folder or a .pth file")
        parser.add_argument("--stage", type=int, choices=(1, 2), default=1)
        parser.add_argument("--min-score", type=float, default=0.0,
                            help="propose only where the model's probability is at least this (0..1)")  # fmt: skip
        parser.add_argument("--known-quality", type=float, metavar="MM", default=None,
                            help="synthetic projects: propose the truth moved by noise of this median size (mm) "
                                 "instead of a model's output")  # fmt: skip
        parser.add_argument("--uncertain-first", action="store_true",
                            help="order the queue by the model's uncertainty, least certain first")  # fmt: skip
        parser.add_argument("--uncertainty", choices=(ENTROPY, MIRROR), default=ENTROPY,
                            help="entropy of the model's distribution, or its disagreement with itself on the "
                                 "mirror image (twice the inference)")  # fmt: skip

    def handle(self, *args, project, checkpoint, stage, min_score, known_quality, uncertain_first, uncertainty,
               **options):  # fmt: skip
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        if known_quality is not None and checkpoint:
            raise CommandError("--checkpoint or --known-quality, not both")
        source = KNOWN if known_quality is not None else MODEL
        try:
            result = preannotate_project(found, stage, source, checkpoint, round(known_quality or 0), min_score,
                                         uncertain_first, inside_data=False, uncertainty=uncertainty)  # fmt: skip
        except PreannotateError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result["message"])
