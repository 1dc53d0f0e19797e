from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from annotator_web.core import api, auth, views
from annotator_web.work import api as work_api
from annotator_web.work import views as work_views


class IdConverter:
    """A database id: at most 18 digits (a larger number is no id, a 404, never an overflow in the query)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")

router = DefaultRouter()
router.trailing_slash = "/?"  # /api/jobs and /api/jobs/ both work
router.register("jobs", api.JobViewSet, basename="job")

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("core/favicon.svg"), permanent=True)),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("jobs/", views.jobs_page, name="jobs-page"),
    path("jobs/<id:pk>/", views.job_page, name="job-page"),
    path("queues/", work_views.dashboard, name="queues-page"),
    path("api/auth/token", auth.TokenView.as_view(), name="api-token"),
    path("api/auth/logout", auth.LogoutTokenView.as_view(), name="api-logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/me", api.MeView.as_view(), name="api-me"),
    path("annotate/", work_views.annotate_page, name="annotate-page"),
    path("review/", work_views.review_page, name="review-page"),
    path("api/bodies/<str:body>/parts/<id:part>/bundle", api.BodyViewBundleView.as_view(), name="api-body-bundle"),
    path(
        "api/bodies/<str:body>/parts/<id:part>/views/<id:view>.png",
        api.BodyViewPictureView.as_view(),
        name="api-body-picture",
    ),
    path("api/bodies/<str:body>/chart-assets.tar", api.ChartAssetsTarView.as_view(), name="api-chart-assets"),
    path("api/job-kinds", api.JobKindsView.as_view(), name="api-job-kinds"),
    path("api/tasks/next", work_api.NextTaskView.as_view(), name="api-task-next"),
    path("api/tasks/<id:pk>/draft", work_api.DraftView.as_view(), name="api-task-draft"),
    path("api/tasks/<id:pk>/submit", work_api.SubmitView.as_view(), name="api-task-submit"),
    path("api/images/<id:pk>/file", work_api.ImageFileView.as_view(), name="api-image-file"),
    path("api/reviews/next", work_api.NextReviewView.as_view(), name="api-review-next"),
    path("api/tasks/<id:pk>/review", work_api.ReviewView.as_view(), name="api-task-review"),
    path("api/tasks/priority", work_api.PriorityView.as_view(), name="api-task-priority"),
    re_path(
        r"^api/tasks/(?P<pk>[0-9]{1,18})/(?P<action>release|assign|requeue)$",
        work_api.TaskActionView.as_view(),
        name="api-task-action",
    ),
    path("api/projects/<slug:name>/tasks", work_api.CreateTasksView.as_view(), name="api-project-tasks"),
    path("api/projects/<slug:name>/images", work_api.UploadImageView.as_view(), name="api-project-images"),
    re_path(
        r"^api/projects/(?P<name>[-\w]+)/(?P<action>pause|resume)$",
        work_api.PauseView.as_view(),
        name="api-project-pause",
    ),
    path("api/", include(router.urls)),
]
