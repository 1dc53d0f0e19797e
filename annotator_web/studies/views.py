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
    projects = [
        {
            "project": p,
            "queues": stats.queue_counts(p),
            "annotators": stats.annotator_stats(p),
            "tasks": stats.tasks_in_hand(p),
            "study": latest_study(p),
        }
        for p in Project.objects.all()
    ]
    annotators = [u for u in get_user_model().objects.order_by("username") if policy.can_annotate(u)]
    context = {"projects": projects, "states": stats.STATES, "annotators": annotators}
    return render(request, "studies/dashboard.html", context)
