"""Task queue API: thin views over work.services."""

from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator_web.core import body_assets
from annotator_web.core.responses import answers
from annotator_web.data.models import Image, Project
from annotator_web.work import history, policy, services, versions
from annotator_web.work import responses as R
from annotator_web.work.models import Task
from annotator_web.work.overview import stage2_overview
from pipeline import parts


def task_json(task: Task) -> dict:
    person, image = task.person, task.person.image
    extra = {}
    if task.stage == Task.Stage.MASKS:
        extra["expected_parts"] = parts.expected_parts(person.keypoints)
        extra["seen_from"] = parts.seen_from(person.keypoints)
    if task.stage == Task.Stage.POINTS:
        extra["points"] = list(versions.current_points(person.pk).values("id", "part", "order", "box_x", "box_y"))
        extra["body"] = body_assets.body_info(task.project.body_model)
        extra["flagged_points"] = list(task.flagged_points or [])
        extra["flagged_answers"] = services.returned_answers(task)
    extra["proposal"] = proposal_json(task, extra.get("points"))
    return {
        **extra,
        "id": task.pk,
        "project": task.project.name,
        "stage": task.stage,
        "state": task.state,
        "lease_expires_at": task.lease_expires_at,
        "assignee": task.assignee.username if task.assignee_id else None,
        "review_comment": task.review_comment,
        "draft": task.draft,
        "person": {
            "id": person.pk,
            "bbox": person.bbox,
            "image": {
                "id": image.pk,
                "width": image.width,
                "height": image.height,
                "url": reverse("api-image-file", args=[image.pk]),
            },
        },
    }


def proposal_json(task: Task, points: list | None) -> dict | None:
    """What a model proposed, as the editors read it: stage 1 the part masks and the model's confidence per part,
    stage 2 a click per sampled point it has a proposal for (on the view that shows it most clearly)."""
    proposal = task.proposal
    if not proposal:
        return None
    out = {"source": proposal.get("source", ""), "made_at": proposal.get("made_at")}
    if task.stage == Task.Stage.MASKS:
        out["dp_masks"] = proposal.get("dp_masks") or []
        out["confidence"] = [{"part": int(k), "confidence": c} for k, c in (proposal.get("confidence") or {}).items()]
    else:
        given = proposal.get("points") or {}
        out["points"] = [{"point": p["id"], **given[str(p["id"])]} for p in points or [] if str(p["id"]) in given]
    return out


def _requires(check, refusal: str):
    """A base view that lets through only the users ``check`` accepts (after authentication)."""

    class RoleView(APIView):
        def initial(self, request, *args, **kwargs):
            super().initial(request, *args, **kwargs)
            if not check(request.user):
                raise PermissionDenied(refusal)

    return RoleView


AnnotatorView = _requires(policy.can_annotate, "only annotators and admins work on tasks")
ReviewerView = _requires(policy.can_review, "only reviewers and admins review")
AdminView = _requires(policy.can_manage, "only admins manage queues")


class NextTaskView(AnnotatorView):
    @extend_schema(
        request=inline_serializer(
            "NextTask", {"project": serializers.CharField(), "stage": serializers.IntegerField(default=1)}
        ),
        responses=answers({200: R.TaskResponse, 204: None}),
        description="The next task of a project and stage, leased to you (204 when the queue is empty).",
    )
    def post(self, request):
        project = member_project_or_error(request.user, request.data.get("project"))
        stage = services.stage_number(request.data.get("stage", 1))
        task = services.next_task(request.user, project, stage)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_json(task))


class DraftView(AnnotatorView):
    @extend_schema(
        request=inline_serializer("Draft", {"draft": serializers.JSONField()}),
        responses=answers({200: R.DraftSavedResponse}),
        description="Save your work on a leased task; renews the lease.",
    )
    def put(self, request, pk: int):
        saved_at, lease_expires_at = services.save_draft(request.user, pk, request.data.get("draft"))
        return Response({"saved_at": saved_at, "lease_expires_at": lease_expires_at})


class LeaveView(AnnotatorView):
    @extend_schema(request=None, responses=answers({204: None}),
                   description="Put your task down (you switch queues): others may take it; if nobody does, "
                   "you find it again with your draft.")  # fmt: skip
    def post(self, request, pk: int):
        services.leave(request.user, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SkipView(AnnotatorView):
    @extend_schema(
        request=inline_serializer(
            "Skip",
            {
                "reason": serializers.ChoiceField([r.value for r in Task.SkipReason]),
                "note": serializers.CharField(required=False, help_text="required when the reason is other"),
            },
        ),
        responses=answers({200: R.SkippedResponse}),
        description="Skip a person you cannot annotate, with a reason: the task leaves the queue for an admin.",
    )
    def post(self, request, pk: int):
        task = services.skip(request.user, pk, request.data.get("reason"), request.data.get("note", ""))
        return Response({"task": task.pk, "state": task.state, "reason": task.skip_reason})


class SubmitView(AnnotatorView):
    @extend_schema(
        request=inline_serializer(
            "Submit",
            {
                "key": serializers.CharField(),
                "data": serializers.JSONField(),
                "seconds_spent": serializers.FloatField(required=False),
            },
        ),
        responses=answers({200: R.SubmittedResponse, 201: R.SubmittedResponse}),
        description="Submit a leased task once per key: stage 1 {dp_masks: [14 RLE]}, stage 2 {answers: [...]}.",
    )
    def post(self, request, pk: int):
        submission, created = services.submit(
            request.user,
            pk,
            request.data.get("key", ""),
            request.data.get("data"),
            request.data.get("seconds_spent", 0.0) or 0.0,
        )
        return Response(
            {"submission": submission.pk, "created": created},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ImageFileView(APIView):
    @extend_schema(responses=answers({(200, "image/jpeg"): OpenApiTypes.BINARY}), description="An image you may see.")
    def get(self, request, pk: int):
        image = get_object_or_404(Image, pk=pk)
        if not policy.can_see_image(request.user, image):
            raise NotFound(f"image {pk} is not yours to see")
        return FileResponse(image.file.open("rb"), content_type="image/jpeg")


def project_or_400(name):
    if not isinstance(name, str):
        raise services.WorkError("project is a project's name (text)", field="project")
    project = Project.objects.filter(name=name).first()
    if project is None:
        raise services.WorkError(f"no project named {name!r}", field="project")
    return project


def not_a_member(project) -> services.WorkError:
    return services.WorkError(
        f"you are not a member of project {project.name}; an admin adds you to it", status=403, field="project"
    )


def member_project_or_error(user, name):
    project = project_or_400(name)
    if not policy.works_on(user, project):
        raise not_a_member(project)
    return project


class NextReviewView(ReviewerView):
    @extend_schema(
        parameters=[OpenApiParameter("project", str, required=True), OpenApiParameter("stage", int)],
        responses=answers({200: R.ReviewTaskResponse, 204: None}),
        description="The oldest processed task waiting for review, with its submission (204 when none).",
    )
    def get(self, request):
        project = member_project_or_error(request.user, request.query_params.get("project"))
        stage = request.query_params.get("stage", "1")
        if stage not in ("1", "2"):
            raise services.WorkError("stage is 1 (part masks) or 2 (correspondences)", field="stage")
        task = services.next_review(project, int(stage), request.user)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        submission = task.submissions.order_by("-created_at").first()
        extra = {"overview": stage2_overview(task)} if task.stage == Task.Stage.POINTS else {}
        if task.proposal:  # the reviewer sees how much of it is the model's, confirmed as it was
            extra["origins"] = services.origins(task)
        extra["resubmission"] = history.resubmission(task)
        return Response({**task_json(task), "submission": submission.data if submission else None, **extra})


class HistoryView(ReviewerView):
    @extend_schema(
        responses=answers({200: R.HistoryResponse}),
        description="Every submission of a task, oldest first: author, time, review (decision, comment, flagged "
        "points), the answer, and what changed from the one before.",
    )
    def get(self, request, pk: int):
        task = Task.objects.select_related("project").filter(pk=pk).first()
        if task is None:
            raise NotFound(f"task {pk} does not exist")
        if not policy.works_on(request.user, task.project):
            raise not_a_member(task.project)
        return Response({"task": task.pk, "stage": task.stage, "submissions": history.task_history(task)})


class ReviewView(ReviewerView):
    @extend_schema(
        request=inline_serializer(
            "Review",
            {
                "decision": serializers.ChoiceField(["accept", "reject"]),
                "comment": serializers.CharField(required=False),
                "points": serializers.ListField(
                    child=serializers.IntegerField(),
                    required=False,
                    help_text="stage 2: the points to redo (the others stand)",
                ),
            },
        ),
        responses=answers({200: R.TaskResponse}),
        description="Accept, or reject with a comment (the task goes back to its author); a stage-2 rejection may "
        "flag points, and its author then redoes only those.",
    )
    def post(self, request, pk: int):
        task = Task.objects.select_related("project").filter(pk=pk).first()
        if task is not None and not policy.works_on(request.user, task.project):
            raise not_a_member(task.project)
        decision, comment = request.data.get("decision", ""), request.data.get("comment", "")
        points = request.data.get("points")
        return Response(task_json(services.review(request.user, pk, decision, comment, points)))


class CreateTasksView(AdminView):
    @extend_schema(
        request=inline_serializer(
            "CreateTasks",
            {"stage": serializers.IntegerField(default=1), "priority": serializers.IntegerField(default=0)},
        ),
        responses=answers({201: R.CreatedResponse}),
        description="Queue a stage-1 task for every person of the project that has none.",
    )
    def post(self, request, name: str):
        project = project_or_400(name)
        stage = services.stage_number(request.data.get("stage", 1))
        count = services.create_tasks(project, stage, request.data.get("priority", 0), request.user)
        return Response({"created": count}, status=status.HTTP_201_CREATED)


class PauseView(AdminView):
    @extend_schema(
        request=None, responses=answers({200: R.PausedResponse}), description="Pause or resume a project's queues."
    )
    def post(self, request, name: str, action: str):
        project = project_or_400(name)
        return Response({"paused": services.set_paused(request.user, project, action == "pause").paused})


class TaskActionView(AdminView):
    @extend_schema(
        request=inline_serializer(
            "TaskAction",
            {
                "username": serializers.CharField(required=False),
                "comment": serializers.CharField(required=False),
                "with_draft": serializers.BooleanField(required=False, default=False),
            },
        ),
        responses=answers({200: R.TaskResponse}),
        description="release (back to the queue), assign (to username; the draft and review comment go with it "
        "only with with_draft), requeue (redo finished work) or retry (process the last submission again, after its "
        "processing stopped).",
    )
    def post(self, request, pk: int, action: str):
        if action == "release":
            task = services.release(request.user, pk)
        elif action == "retry":
            task = services.retry_processing(request.user, pk)
        elif action == "requeue":
            task = services.requeue(request.user, pk, request.data.get("comment", ""))
        else:  # assign
            from django.contrib.auth import get_user_model

            username = services.text(request.data.get("username", ""), "username", 150)
            user = get_user_model().objects.filter(username=username).first()
            if user is None or not policy.can_annotate(user):
                raise services.WorkError("username must name an annotator", field="username")
            with_draft = request.data.get("with_draft", False)
            if not isinstance(with_draft, bool):
                raise services.WorkError("with_draft is true or false", field="with_draft")
            task = services.assign(request.user, pk, user, with_draft)
        return Response(task_json(task))


class PriorityView(AdminView):
    @extend_schema(
        request=inline_serializer(
            "Priority",
            {"tasks": serializers.ListField(child=serializers.IntegerField()), "priority": serializers.IntegerField()},
        ),
        responses=answers({200: R.UpdatedResponse}),
        description="Set the priority of tasks (higher first).",
    )
    def post(self, request):
        ids, priority = request.data.get("tasks"), request.data.get("priority")
        return Response({"updated": services.set_priority(request.user, ids, priority)})


class UploadImageView(AdminView):
    @extend_schema(
        request={"multipart/form-data": inline_serializer("Upload", {"file": serializers.FileField(),
                                                                      "boxes": serializers.JSONField(required=False)})},
        responses=answers({200: R.UploadResponse, 201: R.UploadResponse}),
        description="Add an image (JPEG, PNG or WebP) to a project, with person boxes [[x, y, w, h], ...].",
    )  # fmt: skip
    def post(self, request, name: str):
        from annotator_web.data.images import add_upload, parse_boxes

        project = project_or_400(name)
        upload = request.FILES.get("file")
        if upload is None:
            raise services.WorkError("send the image as the multipart field 'file'", field="file")
        boxes = parse_boxes(request.data.get("boxes"))
        with transaction.atomic():
            image, created, people = add_upload(project, upload.read(), upload.name, boxes)
            services.audit(request.user, "upload", project=project, image=image.pk, people=people)
        body = {"id": image.pk, "width": image.width, "height": image.height, "people": people}
        return Response(body, 201 if created else 200)
