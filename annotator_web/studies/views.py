"""The Queues page (admins): task counts, the tasks in hand, each annotator's pace and measured accuracy."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotator_web.data.models import Project
from annotator_web.studies import stats
from annotator_web.studies.study import latest_study
from annotator_web.work import policy


@login_required
def dashboard(request):
    if not policy.can_manage(request.user):
        raise PermissionDenied("the queue dashboard is for admins")
    annotators = [u for u in get_user_model().objects.order_by("username") if policy.can_annotate(u)]
    projects = [
        {
            "project": p,
            "queues": stats.queue_counts(p),
            "annotators": stats.annotator_stats(p),
            "tasks": stats.tasks_in_hand(p),
            "study": latest_study(p),
            "assignable": _assignable(p, annotators),
        }
        for p in Project.objects.all()
    ]
    context = {"projects": projects, "states": stats.STATES, "annotators": annotators}
    return render(request, "studies/dashboard.html", context)


def _assignable(project: Project, annotators: list) -> list:
    """Who a task of the project may be given to: its members when it lists some (admins included only as
    members), else every annotator and admin."""
    members = set(project.members.values_list("pk", flat=True))
    return [u for u in annotators if u.pk in members] if members else annotators
