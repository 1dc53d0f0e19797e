"""The core's routes: sign-in, jobs, body-model files, the API schema."""

from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from annotator_web.core import api, auth, views

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
    path("api/auth/token", auth.TokenView.as_view(), name="api-token"),
    path("api/auth/logout", auth.LogoutTokenView.as_view(), name="api-logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/me", api.MeView.as_view(), name="api-me"),
    path("api/bodies/<str:body>/parts/<id:part>/bundle", api.BodyViewBundleView.as_view(), name="api-body-bundle"),
    path(
        "api/bodies/<str:body>/parts/<id:part>/views/<id:view>.png",
        api.BodyViewPictureView.as_view(),
        name="api-body-picture",
    ),
    path(
        "api/bodies/<str:body>/overview/<str:side>.png", api.BodyOverviewPictureView.as_view(), name="api-body-overview"
    ),
    path("api/bodies/<str:body>/chart-assets.tar", api.ChartAssetsTarView.as_view(), name="api-chart-assets"),
    path("api/job-kinds", api.JobKindsView.as_view(), name="api-job-kinds"),
    path("api/", include(router.urls)),
]
