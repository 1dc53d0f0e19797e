"""Run the data-folder integrity check now, in this process, with a progress bar; exit 1 on problems."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator_web.core import integrity, jobs


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        job = jobs.Job.objects.create(kind=integrity.KIND, queue="default", message="started from the command line")
        bar = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

        def show(percent, message):
            bar.n = percent
            bar.set_postfix_str((message or "")[:60], refresh=True)

        try:
            done = jobs.execute(job.pk, worker="command-line", listener=show)
        finally:
            bar.close()
        if done is None or done.state != jobs.State.SUCCEEDED:
            raise CommandError(f"job {job.pk} did not succeed: {done.error if done else 'not run'}")
        self.stdout.write(done.message)
        self.stdout.write(f"report: {done.result_path}")
        if not done.result.get("ok"):
            raise CommandError("problems found: " + "; ".join(done.result["problems"]))
