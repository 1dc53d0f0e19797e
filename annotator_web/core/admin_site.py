"""The Django admin, open to users with the admin role (not only to Django's staff flag)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from annotator_web.core import policy


class FactoryAdminSite(admin.AdminSite):
    site_header = "DensePose data factory — administration"
    site_title = "DensePose data factory"

    def has_permission(self, request):
        return policy.is_admin(request.user)

    def login(self, request, extra_context=None):
        """Django's admin login, under the same failed-login limits as the app's login page and the token
        endpoint (the first admin is a staff account: this page must not be a way round them)."""
        if request.method != "POST":
            return super().login(request, extra_context)
        from django.template.response import TemplateResponse

        from annotator_web.core import auth

        def refused(wait: int):
            context = {
                **self.each_context(request),
                "title": "Log in",
                "app_path": request.get_full_path(),
                "form": refused_login_form(request, wait),
            }
            return TemplateResponse(request, self.login_template or "admin/login.html", context, status=429)

        return auth.throttled_page_login(
            request, lambda: super(FactoryAdminSite, self).login(request, extra_context), refused
        )


def refused_login_form(request, wait: int):
    """The admin login form as sent back while the account or address is throttled: the name kept, the reason
    shown, nothing authenticated."""
    from django.contrib.admin.forms import AdminAuthenticationForm  # needs the apps loaded
    from django.forms.utils import ErrorDict

    class Refused(AdminAuthenticationForm):
        def full_clean(self):
            self._errors, self.cleaned_data = ErrorDict(), {}
            self.add_error(None, f"Too many failed logins. Try again in {wait} seconds.")

    return Refused(request, data=request.POST)


class FactoryAdminConfig(AdminConfig):
    default_site = "annotator_web.core.admin_site.FactoryAdminSite"


def grant_admin_role(**kwargs) -> None:
    """After every migrate (and flush): the role groups exist and the admin group holds every permission."""
    from django.contrib.auth.models import Group, Permission

    for role in policy.ROLES:
        Group.objects.get_or_create(name=role)
    Group.objects.get(name=policy.ADMIN).permissions.set(Permission.objects.all())
