"""REST API views: validate, call a service, return. Rules live in policy.py and jobs.py."""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator_web.core import jobs, policy
from annotator_web.core.models import Job
from annotator_web.core.responses import BuildingResponse, JobKindResponse, MeResponse, answers
from annotator_web.core.serializers import JobSerializer, JobStartSerializer


@extend_schema_view(
    list=extend_schema(responses=answers({200: JobSerializer(many=True)})),
    retrieve=extend_schema(responses=answers({200: JobSerializer})),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Jobs you may see. ``POST /api/jobs`` starts one (``{"kind": ..., "params": {...}}``)."""

    serializer_class = JobSerializer
    lookup_value_regex = "[0-9]{1,18}"  # a database id: a larger number is a 404, not an overflow

    def get_queryset(self):
        qs = policy.visible_jobs(self.request.user, Job.objects.select_related("created_by"))
        for name in ("kind", "state"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        if self.action == "list" and not self.request.query_params.get("kind"):
            # the system's own jobs (processing each submission: no role starts them) only when asked by kind
            qs = qs.exclude(kind__in=[k.name for k in jobs.kinds().values() if not k.roles])
        return qs

    @extend_schema(request=JobStartSerializer, responses={**answers({201: JobSerializer}), 400: OpenApiTypes.OBJECT})
    def create(self, request):
        data = JobStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            kind = jobs.get_kind(data.validated_data["kind"])
        except jobs.JobError as exc:
            raise ValidationError({"kind": [str(exc)]}) from None
        if not policy.can_start_job(request.user, kind):
            raise PermissionDenied(f"your role may not start {kind.title!r} jobs")
        try:
            job = jobs.start_job(kind.name, params=data.validated_data["params"], user=request.user)
        except jobs.JobError as exc:
            raise ValidationError({"params": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=answers({200: JobSerializer}))
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        if not policy.can_cancel_job(request.user, job, jobs.kinds().get(job.kind)):
            raise PermissionDenied("you may not cancel this job (the system's own jobs only an admin cancels)")
        return Response(JobSerializer(jobs.cancel_job(job)).data)

    @extend_schema(
        parameters=[OpenApiParameter("file", str, description="another file the job wrote beside its result")],
        responses=answers({(200, "application/octet-stream"): OpenApiTypes.BINARY}),
    )
    @action(detail=True, methods=["get"])
    def result(self, request, pk=None):
        job = self.get_object()
        name = request.query_params.get("file")
        if name is not None:  # a file beside the result, or written so far by a running job
            if name not in job_output_files(job):
                raise NotFound(f"job {job.pk} wrote no file named {name!r}")
            path = (_output_dir(job) / name).resolve()
        elif job.state != Job.State.SUCCEEDED or not job.result_path:
            raise NotFound(f"job {job.pk} has no result file (state: {job.state})")
        else:
            path = (Path(settings.MEDIA_ROOT) / job.result_path).resolve()
        if not path.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) or not path.is_file():
            raise NotFound(f"the result file of job {job.pk} is missing")
        inline = name is not None and path.suffix == ".png"  # pictures show in the page
        return FileResponse(open(path, "rb"), as_attachment=not inline, filename=f"job-{job.pk}-{path.name}")


def _output_dir(job: Job) -> Path | None:
    """A succeeded job's result folder; a running job's output folder (what it wrote so far)."""
    if job.state == Job.State.SUCCEEDED and job.result_path:
        return (Path(settings.MEDIA_ROOT) / job.result_path).resolve().parent
    if job.state == Job.State.RUNNING:
        return jobs.output_folder(job).resolve()
    return None


def job_output_files(job: Job) -> list[str]:
    """The files a succeeded job wrote beside its result, or a running job has written so far."""
    folder = _output_dir(job)
    if folder is None or not folder.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


class JobKindsView(APIView):
    @extend_schema(responses=answers({200: JobKindResponse(many=True)}),
                   description="The kinds of jobs and whether you may start them.")  # fmt: skip
    def get(self, request):
        return Response(
            [
                {"kind": k.name, "title": k.title, "queue": k.queue, "can_start": policy.can_start_job(request.user, k)}
                for k in jobs.kinds().values()
            ]
        )


class MeView(APIView):
    permission_classes = []

    @extend_schema(responses=answers({200: MeResponse}), description="Who you are and your role.")
    def get(self, request):
        if not request.user.is_authenticated:
            return Response({"detail": "not signed in"}, status=status.HTTP_401_UNAUTHORIZED)
        return Response({"username": request.user.username, "role": policy.role_of(request.user)})


def job_for_page(user, pk: int) -> Job:
    return get_object_or_404(policy.visible_jobs(user, Job.objects.all()), pk=pk)


def _body_or_404(body: str):
    from annotator_web.core import body_assets
    from pipeline.body import BODY_MODELS

    if body not in BODY_MODELS:
        raise NotFound(f"unknown body model {body!r}; available: {', '.join(BODY_MODELS)}")
    if body_assets.built_asset_folder(body) is None:
        raise NotFound(f"the {body} body assets are not built yet (an admin starts 'Build body-model assets')")
    return body_assets


def _part_or_404(part: int) -> int:
    from pipeline import parts

    if not 1 <= part <= parts.NUM_MASK_PARTS:
        raise NotFound(f"unknown body part {part}: mask parts are 1..{parts.NUM_MASK_PARTS}")
    return part


# The URLs carry the asset key (body_assets.body_info), so a browser may keep these for a day.
ASSET_CACHE_CONTROL = "private, max-age=86400"


class BodyViewBundleView(APIView):
    @extend_schema(
        responses=answers({(200, "application/octet-stream"): OpenApiTypes.BINARY}),
        description="One body part's six views for the browser: cameras, faces and id buffers "
        "(layout in pipeline/render/bundle.py), gzip-encoded.",
    )
    def get(self, request, body: str, part: int):
        path = _body_or_404(body).part_bundle_file(body, _part_or_404(part))
        response = FileResponse(path.open("rb"), content_type="application/octet-stream")
        response["Content-Encoding"] = "gzip"
        response["Cache-Control"] = ASSET_CACHE_CONTROL
        return response


class BodyViewPictureView(APIView):
    @extend_schema(
        responses=answers({(200, "image/png"): OpenApiTypes.BINARY}),
        description="The picture of one of a part's six views.",
    )
    def get(self, request, body: str, part: int, view: int):
        from pipeline.render.views import VIEWS_PER_PART

        folder = _body_or_404(body).built_asset_folder(body)
        if not 0 <= view < VIEWS_PER_PART:
            raise NotFound(f"unknown view {view}: each part has views 0..{VIEWS_PER_PART - 1}")
        path = folder / "views" / f"part{_part_or_404(part):02d}-view{view}.png"
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = ASSET_CACHE_CONTROL
        return response


class BodyOverviewPictureView(APIView):
    @extend_schema(
        responses=answers({(200, "image/png"): OpenApiTypes.BINARY}),
        description="The whole body from the front or the back, tinted by part (the stage-2 review overview).",
    )
    def get(self, request, body: str, side: str):
        from pipeline.render.overview import SIDES, picture_path

        folder = _body_or_404(body).built_asset_folder(body)
        if side not in [name for name, _ in SIDES]:
            raise NotFound(f"unknown side {side!r}: front or back")
        response = FileResponse(picture_path(folder, side).open("rb"), content_type="image/png")
        response["Cache-Control"] = ASSET_CACHE_CONTROL
        return response


class ChartAssetsTarView(APIView):
    """Admins only: the files are derived from the body model (SMPL's carry its licence) and annotators have no
    use for them. Never built inside the request: while they are missing a build job is started (or the one
    running named) and the answer is 409 with its id."""

    @extend_schema(
        responses=answers({(200, "application/x-tar"): OpenApiTypes.BINARY, 409: BuildingResponse}),
        description="The body model's chart-set files for detectron2 (flip map, evaluation tables, README) as "
        "one tar, streamed (the distance table is a few hundred MB). Admins only; 409 with a build job while "
        "they are not built.",
    )
    def get(self, request, body: str):
        import tarfile

        from django.http import StreamingHttpResponse

        if not policy.is_admin(request.user):
            raise PermissionDenied("only admins download the chart-set files")
        assets = _body_or_404(body)
        folder = assets.chart_assets_folder(body, build=False)
        if folder is None:
            job = jobs.unfinished_job(assets.KIND, body=body) or jobs.start_job(
                assets.KIND, params={"body": body}, user=request.user
            )
            return Response({"detail": f"the {body} chart files are being built by job {job.pk} (about a minute "
                                       "once the body assets exist); ask again when it has finished",
                             "job": job.pk}, status=status.HTTP_409_CONFLICT)  # fmt: skip

        def stream():
            for path in sorted(folder.iterdir()):
                info = tarfile.TarInfo(f"{body}-chart-assets/{path.name}")
                info.size, info.mtime, info.mode = path.stat().st_size, int(path.stat().st_mtime), 0o644
                yield info.tobuf(format=tarfile.GNU_FORMAT)
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk
                yield b"\0" * (-info.size % tarfile.BLOCKSIZE)
            yield b"\0" * (2 * tarfile.BLOCKSIZE)

        response = StreamingHttpResponse(stream(), content_type="application/x-tar")
        response["Content-Disposition"] = f'attachment; filename="{body}-chart-assets.tar"'
        return response
