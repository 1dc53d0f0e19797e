"""Who may work on tasks and see their images."""

from annotator_web.core import policy
from annotator_web.work.models import Task


def can_annotate(user) -> bool:
    return policy.role_of(user) in (policy.ANNOTATOR, policy.ADMIN)


def can_see_image(user, image) -> bool:
    role = policy.role_of(user)
    if role in (policy.ADMIN, policy.REVIEWER):
        return True
    return (
        role == policy.ANNOTATOR
        and Task.objects.filter(person__image=image, assignee=user, state=Task.State.LEASED).exists()
    )


def can_review(user) -> bool:
    return policy.role_of(user) in (policy.REVIEWER, policy.ADMIN)


def can_manage(user) -> bool:
    return policy.is_admin(user)
