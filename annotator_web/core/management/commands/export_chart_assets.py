"""Write a body model's chart-set files for detectron2's DensePose (flip map, evaluation tables) to a folder."""

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--body", default=settings.BODY_MODEL, help="anny or smpl")
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, body, out, **options):
        from annotator_web.core.body_assets import chart_assets_folder

        folder = chart_assets_folder(body, lambda p, m: self.stderr.write(f"{p:5.0f}%  {m}"))
        if folder is None:
            raise CommandError(f"the {body} body assets are not built; run `manage.py build_assets --body {body}`")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            target = out / path.name
            target.unlink(missing_ok=True)
            try:
                os.link(path, target)  # the table is large: a second name, not a second copy, when possible
            except OSError:
                shutil.copy2(path, target)
        info = (folder / "info.json").read_text()
        self.stdout.write(f"{body} chart assets -> {out} ({info})")
