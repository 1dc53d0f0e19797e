"""Export a project's annotations as DensePose-COCO JSON (validated before it is written)."""

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator_web.data.models import Project
from annotator_web.densepose_io.export import ONLY_ACCEPTED, ExportError, export_project, split_problem


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--only-accepted",
            action=argparse.BooleanOptionalAction,
            default=ONLY_ACCEPTED,
            help="only people whose masks and points were both accepted (default: everyone with part masks)",
        )
        parser.add_argument("--split", help="only the images of this split (train, val, …)")
        parser.add_argument("--provenance", action="store_true",
                            help="each point's origin in dp_origin: click, confirmed or corrected (a model's "
                                 "proposal); the part masks' in dp_masks_origin")  # fmt: skip
        parser.add_argument("--drop-confirmed", action="store_true",
                            help="leave out points that are a model's proposal confirmed as it was")  # fmt: skip

    def handle(self, *args, project, out, only_accepted, split=None, provenance=False, drop_confirmed=False,
               **options):  # fmt: skip
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        try:
            result = export_project(found, Path(out), only_accepted=only_accepted, split=split, provenance=provenance,
                                    drop_confirmed=drop_confirmed)  # fmt: skip
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        problem = split_problem(found, split)
        if problem:
            self.stderr.write(problem)
        self.stdout.write(f"{result['people']} people, {result['points']} points -> {out}")
