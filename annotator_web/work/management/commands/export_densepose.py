"""Export a project's annotations as DensePose-COCO JSON (validated before it is written)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator_web.data.models import Project
from annotator_web.work.export import ExportError, export_project


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--all",
            dest="include_all",
            action="store_true",
            help="also people whose work is not yet accepted (default: accepted only)",
        )

    def handle(self, *args, project, out, include_all, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        try:
            result = export_project(found, out, only_accepted=not include_all)
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{result['people']} people, {result['points']} points -> {out}")
