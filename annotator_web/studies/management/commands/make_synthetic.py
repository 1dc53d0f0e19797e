"""Render synthetic people into a project: images and person boxes to annotate, ground truth kept hidden.

Deterministic under --seed; running it again adds only the images that are missing.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from annotator_web.core import jobs
from annotator_web.core.management.inline import run_job_inline
from annotator_web.data.models import Project
from annotator_web.studies import synthetic


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--enqueue", action="store_true", help="start it as a job on a worker and return")
        parser.add_argument("--if-missing", action="store_true", help="do nothing if the project has the images")

    def handle(self, *args, project, count, seed, enqueue, if_missing, **options):
        if slugify(project) != project:
            raise CommandError(f"project names are slugs (letters, digits, - and _): try {slugify(project)!r}")
        existing = Project.objects.filter(name=project).first()
        if if_missing and existing and existing.images.count() >= count:
            self.stdout.write(f"project {project} already has {existing.images.count()} images")
            return
        params = {"project": project, "count": count, "seed": seed}
        if enqueue:
            running = jobs.unfinished_job(synthetic.KIND, project=project)
            if running:
                self.stdout.write(f"synthetic images for {project} are being made by job #{running.pk}")
                return
            job = jobs.start_job(synthetic.KIND, params=params)
            self.stdout.write(f"making {count} synthetic images in {project} as job #{job.pk} (see the Jobs page)")
            return
        done = run_job_inline(synthetic.KIND, params)
        self.stdout.write(done.message)
