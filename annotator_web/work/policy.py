"""Who may work on tasks and see their images."""

from django.db.models import Count, Q
from django.utils import timezone

from annotator_web.core import policy
from annotator_web.work.models import Task


def can_annotate(user) -> bool:
    return policy.role_of(user) in (policy.ANNOTATOR, policy.ADMIN)


def works_on(user, project) -> bool:
    """Admins work on every project; annotators and reviewers on the projects that list them as members, and
    on open projects (no members listed)."""
    if policy.is_admin(user):
        return True
    if policy.role_of(user) is None:
        return False
    # one row whatever the number of members: how many, and whether the user is one
    counts = project.members.through.objects.filter(project_id=project.pk).aggregate(
        listed=Count("pk"), mine=Count("pk", filter=Q(user_id=user.pk))
    )
    return counts["listed"] == 0 or counts["mine"] > 0


def visible_projects(user, projects):
    """The projects of ``projects`` that ``user`` works on."""
    if policy.is_admin(user):
        return projects
    if policy.role_of(user) is None:
        return projects.none()
    return projects.filter(Q(members=None) | Q(members=user)).distinct()


def can_see_image(user, image) -> bool:
    role = policy.role_of(user)
    if role == policy.ADMIN:
        return True
    if role == policy.REVIEWER:
        return works_on(user, image.project)
    # an annotator: while they hold a live lease on a task of the image (not after it expired or they left it)
    live = {"assignee": user, "state": Task.State.LEASED, "lease_expires_at__gt": timezone.now()}
    return role == policy.ANNOTATOR and Task.objects.filter(person__image=image, **live).exists()


def can_review(user) -> bool:
    return policy.role_of(user) in (policy.REVIEWER, policy.ADMIN)


def can_manage(user) -> bool:
    return policy.is_admin(user)
