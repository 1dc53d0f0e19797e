"""Delete a project's earlier answer versions (part masks, points and stage-2 answers that are not current): the
only way versions are deleted. Without --yes it only counts them. The current versions and every submission
stay; the counts go to the audit trail."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotator_web.core import policy
from annotator_web.data.models import Project
from annotator_web.work import versions


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--by", required=True, help="the admin who purges (named in the audit trail)")
        parser.add_argument("--yes", action="store_true", help="delete them (without it: only count them)")

    def handle(self, *args, project, by, yes=False, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        admin = get_user_model().objects.filter(username=by).first()
        if admin is None or not policy.is_admin(admin):
            raise CommandError(f"--by names the admin who purges; {by!r} is not an admin")
        if not yes:
            counts = {kind: rows.count() for kind, rows in versions.earlier_versions(found).items()}
            self.stdout.write(
                f"would delete from {project}: "
                + ", ".join(f"{n} {k}" for k, n in counts.items())
                + " (earlier versions); run again with --yes to delete them"
            )
            return
        counts = versions.purge_earlier(found, admin)
        self.stdout.write(f"deleted from {project}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
