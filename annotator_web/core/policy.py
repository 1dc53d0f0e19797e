"""Who may see and do what. Every view and every list filters through these functions."""

from __future__ import annotations

from django.db.models import QuerySet, prefetch_related_objects
from rest_framework.permissions import BasePermission

ADMIN = "admin"
REVIEWER = "reviewer"
ANNOTATOR = "annotator"
# Highest first: a user in several role groups acts with the highest.
ROLES = (ADMIN, REVIEWER, ANNOTATOR)


GROUP_NAMES = "_role_group_names"  # a user's role groups, when read in the query that read the user


def remember_role_groups(user, names) -> None:
    """Keep on ``user`` the role groups they are in (read with the user, see ``core.tokens``): ``role_of`` reads no
    more."""
    setattr(user, GROUP_NAMES, set(names))


def role_of(user) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    user = getattr(user, "_wrapped", user)  # a request's lazy user (evaluated above): cache on the real one
    names = getattr(user, GROUP_NAMES, None)  # read with the user by the token authentication
    if names is None:  # read once per user object (a request's user): adding or removing a group empties this cache
        prefetch_related_objects([user], "groups")
        names = {group.name for group in user.groups.all()}
    for role in ROLES:
        if role in names:
            return role
    return None


def is_admin(user) -> bool:
    return role_of(user) == ADMIN


class HasRole(BasePermission):
    """Signed in and given a role by an admin; a user without a role can do nothing yet."""

    message = "Your account has no role yet (admin, reviewer or annotator); ask an admin to give you one."

    def has_permission(self, request, view) -> bool:
        return role_of(request.user) is not None


# --- jobs ----------------------------------------------------------------------------------------------


def visible_jobs(user, jobs: QuerySet) -> QuerySet:
    """Admins see every job; everyone else sees the jobs they started."""
    role = role_of(user)
    if role == ADMIN:
        return jobs
    if role is None:
        return jobs.none()
    return jobs.filter(created_by=user)


def can_start_job(user, kind) -> bool:
    return role_of(user) in kind.roles


def can_cancel_job(user, job, kind) -> bool:
    """Admins cancel any job; others the jobs they started, but never the system's own (processing their
    submission: a queue's work depends on it)."""
    if is_admin(user):
        return True
    system = kind is None or kind.system  # a kind this server does not know: treated as the system's
    return not system and role_of(user) is not None and job.created_by_id == user.pk
