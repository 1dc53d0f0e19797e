from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "annotator_web.core"
    label = "core"
    verbose_name = "Core: users, roles and jobs"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_migrate

        from annotator_web.core import jobs, tasks, worker_signals  # noqa: F401  (the Celery task, worker hooks)

        jobs.register_kinds(settings.JOB_KINDS)  # every app's models are loaded by now
        from annotator_web.core.admin_site import grant_admin_role

        post_migrate.connect(grant_admin_role, dispatch_uid="grant-admin-role")  # after every app, new perms too

        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import pre_save

        from annotator_web.core import auth

        user_logged_in.connect(auth.on_logged_in, dispatch_uid="clear-login-failures")
        user_logged_out.connect(auth.revoke_token_on_logout, dispatch_uid="revoke-token-on-logout")
        pre_save.connect(auth.rotate_token_on_password_change, sender=get_user_model(), dispatch_uid="rotate-token")
