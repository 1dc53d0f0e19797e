"""Pages: the annotator app (annotate and review modes)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from annotator_web.data.models import Project
from annotator_web.work import policy
from annotator_web.work.models import Task
from pipeline import parts


def app_config(request, mode: str) -> dict:
    """Everything the browser app needs besides the API: projects, part names and colours, endpoints."""
    task_url = reverse("api-task-draft", args=[0]).replace("/0/draft", "/{id}")
    return {
        "mode": mode,
        "user": request.user.username,
        "projects": [
            {"name": p.name, "paused": p.paused, "body_model": p.body_model, "synthetic": p.synthetic}
            for p in policy.visible_projects(request.user, Project.objects.order_by("name"))
        ],
        "parts": [
            {"label": label, "name": name, "color": list(color)}
            for label, name, color in zip(parts.MASK_PARTS, parts.MASK_PART_NAMES, parts.MASK_PART_COLORS, strict=True)
        ],
        "charts": list(parts.CHART_NAMES),
        "urls": {
            "next": reverse("api-task-next"),
            "draft": task_url + "/draft",
            "submit": task_url + "/submit",
            "leave": task_url + "/leave",
            "skip": task_url + "/skip",
            "review_next": reverse("api-review-next"),
            "review": task_url + "/review",
        },
        "autosave_ms": 2000,
        "skip_reasons": [{"value": r.value, "label": r.label} for r in Task.SkipReason],
    }


def _app_page(request, mode: str):
    built = settings.FRONTEND_DIST / "annotate" / "app.js"
    if not built.exists():
        return HttpResponse(
            "The annotator UI is not built: run `make run` (or `cd frontend && npm ci && npm run build`).",
            status=503,
            content_type="text/plain",
        )
    # the build's time in the URLs: a new build is fetched at once, not after the static files' cache time
    context = {"config": app_config(request, mode), "version": int(built.stat().st_mtime)}
    return render(request, "work/annotate.html", context)


@login_required
def annotate_page(request):
    if not policy.can_annotate(request.user):
        raise PermissionDenied("annotating is for annotators and admins")
    return _app_page(request, "annotate")


@login_required
def review_page(request):
    if not policy.can_review(request.user):
        raise PermissionDenied("reviewing is for reviewers and admins")
    return _app_page(request, "review")
