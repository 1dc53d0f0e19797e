"""Check a DensePose-COCO JSON file: every problem with its annotation id and reason; exit 1 if any. What real
datasets have and DensePose's own code accepts (points a pixel off their part at part borders) is a warning."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipeline.coco.densepose import validate_dataset


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        warnings: list = []
        problems = validate_dataset(data, warnings)
        for problem in problems:
            self.stderr.write(str(problem))
        for warning in warnings[:20]:
            self.stderr.write(f"warning: {warning}")
        if len(warnings) > 20:
            self.stderr.write(f"warning: ... {len(warnings) - 20} more")
        if problems:
            raise CommandError(f"{file}: {len(problems)} problems")
        people = len(data["annotations"])
        points = sum(len(a.get("dp_I", [])) for a in data["annotations"])
        note = f"; {len(warnings)} warnings" if warnings else ""
        self.stdout.write(f"{file}: valid ({len(data['images'])} images, {people} people, {points} points{note})")
