"""Build the body-model assets (charts, six views per part, id and depth buffers, contact sheet).

Cached by content hash: with nothing changed it does no work. --enqueue hands it to a worker instead.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator_web.core import body_assets, jobs
from annotator_web.core.management.inline import run_job_inline
from pipeline.body import BODY_MODELS


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--body", default=None, choices=BODY_MODELS, help="body model (default: settings)")
        parser.add_argument("--enqueue", action="store_true", help="start it as a job on a worker and return")
        parser.add_argument("--if-missing", action="store_true", help="do nothing when the assets are built")

    def handle(self, *args, body, enqueue, if_missing, **options):
        body = body or settings.BODY_MODEL
        if if_missing and body_assets.assets_ready(body):
            self.stdout.write(f"{body} assets are up to date")
            return
        if enqueue:
            running = jobs.unfinished_job(body_assets.KIND, body=body)
            if running:
                self.stdout.write(f"the {body} asset build is already job #{running.pk}")
                return
            job = jobs.start_job(body_assets.KIND, params={"body": body})
            self.stdout.write(f"building the {body} assets as job #{job.pk} (see the Jobs page)")
            return
        done = run_job_inline(body_assets.KIND, {"body": body})
        if done.result.get("charts_folds"):
            raise CommandError(f"charts have {done.result['charts_folds']} fold-overs")
        self.stdout.write(done.message)
        self.stdout.write(f"folder: {done.result['folder']}")
