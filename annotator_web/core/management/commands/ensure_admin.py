"""Create the first admin account if there is none, and print how to log in."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from annotator_web.core import policy
from annotator_web.datadir import write_private


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the app is served (printed)")

    def handle(self, *args, username, url, **options):
        User = get_user_model()
        password_file = settings.DATA.admin_password_file
        admins = User.objects.filter(is_superuser=True) | User.objects.filter(groups__name=policy.ADMIN)
        if not admins.exists():
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            user.groups.add(Group.objects.get_or_create(name=policy.ADMIN)[0])
            write_private(password_file, password + "\n")
            self.stdout.write(self.style.SUCCESS(f"Created the admin account {username!r}."))
        user = User.objects.filter(username=username).first()
        saved = password_file.read_text().strip() if password_file.exists() else ""
        if user is not None and saved and user.check_password(saved):
            self.stdout.write(f"Log in at {url} as {username} / {saved}  (password kept in {password_file})")
        else:
            self.stdout.write(f"Log in at {url} with your admin account (its password was changed from the first one).")
