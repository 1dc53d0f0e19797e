"""The synthetic-render accuracy study of a project: per-part and per-annotator error, pictures, curve."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator_web.data.models import Project
from annotator_web.studies.study import StudyError, run_study, table_markdown


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--out", type=Path, help="folder for the table, pictures and JSON (default: study-NAME)")

    def handle(self, *args, project, out=None, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        out = Path(out or f"study-{project}")
        try:
            result = run_study(found, out, lambda p, m: self.stderr.write(f"{p:5.0f}%  {m}"))
        except StudyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(table_markdown(result))
        self.stdout.write(f"written to {out}/: study.json, table.md, error_map.png, pointwise.png")
