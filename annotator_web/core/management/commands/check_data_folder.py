"""Run the data-folder integrity check now, in this process, with a progress bar; exit 1 on problems."""

from django.core.management.base import BaseCommand, CommandError

from annotator_web.core import integrity
from annotator_web.core.management.inline import run_job_inline


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        done = run_job_inline(integrity.KIND)
        self.stdout.write(done.message)
        self.stdout.write(f"report: {done.result_path}")
        if not done.result.get("ok"):
            raise CommandError("problems found: " + "; ".join(done.result["problems"]))
