"""Run a job in the command's own process with a progress bar (management commands use this)."""

from django.core.management.base import CommandError
from tqdm import tqdm

from annotator_web.core import jobs
from annotator_web.core.models import Job


def run_job_inline(kind: str, params: dict | None = None, message: str = "started from the command line") -> Job:
    job = Job.objects.create(kind=kind, params=params or {}, queue=jobs.get_kind(kind).queue, message=message)
    bar = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def show(percent, text):
        bar.n = percent
        bar.set_postfix_str((text or "")[:70], refresh=True)

    try:
        done = jobs.execute(job.pk, worker="command-line", listener=show)
    finally:
        bar.close()
    if done is None or done.state != Job.State.SUCCEEDED:
        raise CommandError(f"job {job.pk} did not succeed: {done.error if done else 'it was not run'}")
    return done
