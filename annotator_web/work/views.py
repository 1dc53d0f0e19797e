"""The queue dashboard page for admins."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotator_web.data.models import Project
from annotator_web.work import policy, stats


@login_required
def dashboard(request):
    if not policy.can_manage(request.user):
        raise PermissionDenied("the queue dashboard is for admins")
    projects = [
        {"project": p, "queues": stats.queue_counts(p), "annotators": stats.annotator_stats(p)}
        for p in Project.objects.all()
    ]
    return render(request, "work/dashboard.html", {"projects": projects, "states": stats.STATES})
