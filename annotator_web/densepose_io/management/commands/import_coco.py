"""Import COCO person annotations into a project: every valid person becomes a stage-1 task."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from annotator_web.densepose_io.coco_import import import_coco


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--annotations", required=True, type=Path, help="COCO JSON (instances or person keypoints)")
        parser.add_argument("--images", required=True, type=Path, help="folder with the images named in the file")
        parser.add_argument("--split", default="", help="the data split these images belong to (train, val, …)")

    def handle(self, *args, project, annotations, images, split="", **options):
        if slugify(project) != project:
            raise CommandError(f"project names are slugs (letters, digits, - and _): try {slugify(project)!r}")
        try:
            report = import_coco(project, annotations, images, split=split)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for problem in report.problems:
            self.stderr.write(f"skipped: {problem}")
        self.stdout.write(
            f"imported {report.images} images and {report.people} people into {project}; {report.tasks} new "
            f"stage-1 tasks; {report.skipped_existing} images were already there; {len(report.problems)} problems"
        )
