"""Import DensePose-COCO annotations (people, part masks, points) into a project, as review tasks or accepted."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from annotator_web.densepose_io.densepose_import import import_densepose


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--annotations", required=True, type=Path, help="DensePose-COCO JSON")
        parser.add_argument("--images", required=True, type=Path, help="folder with the images named in the file")
        parser.add_argument("--split", default="", help="the data split these images belong to (train, val, …)")
        parser.add_argument("--accepted", action="store_true", help="import as accepted work (default: to review)")

    def handle(self, *args, project, annotations, images, accepted, split="", **options):
        if slugify(project) != project:
            raise CommandError(f"project names are slugs (letters, digits, - and _): try {slugify(project)!r}")
        try:
            report = import_densepose(project, annotations, images, accepted=accepted, split=split)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for problem in report.problems:
            self.stderr.write(f"skipped: {problem}")
        for warning in report.warnings[:20]:
            self.stderr.write(f"imported with a warning: {warning}")
        self.stdout.write(
            f"imported {report.images} images, {report.people} people and {report.points} points into {project} "
            f"({'accepted' if accepted else 'waiting for review'}); {report.tasks} people without DensePose "
            f"annotation queued for stage 1; {report.skipped_existing} images were already there; "
            f"{len(report.problems)} problems, {len(report.warnings)} warnings"
        )
