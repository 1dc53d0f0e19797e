"""HTML pages. They render templates; data comes from the REST API in the browser."""

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from annotator_web.core import jobs, policy
from annotator_web.core.api import job_for_page, job_output_files


@login_required
def home(request):
    """Everyone lands where their work is: annotators annotate, reviewers review, admins see the queues."""
    role = policy.role_of(request.user)
    return redirect(
        {policy.ANNOTATOR: "annotate-page", policy.REVIEWER: "review-page", policy.ADMIN: "queues-page"}.get(
            role, "jobs-page"
        )
    )


@login_required
def jobs_page(request):
    startable = [k for k in jobs.kinds().values() if policy.can_start_job(request.user, k)]
    return render(request, "core/jobs.html", {"startable": startable, "has_role": policy.role_of(request.user)})


@login_required
def job_page(request, pk: int):
    job = job_for_page(request.user, pk)
    files = job_output_files(job)
    kind = jobs.kinds().get(job.kind)
    context = {
        "job": job,
        "title": kind.title if kind else job.kind,
        "result_json": json.dumps(job.result, indent=2),
        "files": files,
        "pictures": [f for f in files if f.endswith(".png")],
    }
    return render(request, "core/job.html", context)
