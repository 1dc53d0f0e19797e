"""Celery tasks. One task runs every kind of job; the job row says what to do."""

from celery import shared_task

from annotator_web.core import jobs


@shared_task(name="jobs.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self, job_id: int) -> None:
    jobs.execute(job_id, worker=self.request.hostname or "worker")
