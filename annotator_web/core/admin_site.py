"""The Django admin, open to users with the admin role (not only to Django's staff flag)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from annotator_web.core import policy


class FactoryAdminSite(admin.AdminSite):
    site_header = "DensePose data factory — administration"
    site_title = "DensePose data factory"

    def has_permission(self, request):
        return policy.is_admin(request.user)


class FactoryAdminConfig(AdminConfig):
    default_site = "annotator_web.core.admin_site.FactoryAdminSite"


def grant_admin_role(**kwargs) -> None:
    """After every migrate (and flush): the role groups exist and the admin group holds every permission."""
    from django.contrib.auth.models import Group, Permission

    for role in policy.ROLES:
        Group.objects.get_or_create(name=role)
    Group.objects.get(name=policy.ADMIN).permissions.set(Permission.objects.all())
