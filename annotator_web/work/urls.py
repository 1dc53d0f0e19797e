"""The queue's routes: the annotator app's pages and the task, review and project API."""

from django.urls import path, re_path

from annotator_web.work import api as work_api
from annotator_web.work import views as work_views

urlpatterns = [
    path("annotate/", work_views.annotate_page, name="annotate-page"),
    path("review/", work_views.review_page, name="review-page"),
    path("api/tasks/next", work_api.NextTaskView.as_view(), name="api-task-next"),
    path("api/tasks/<id:pk>/draft", work_api.DraftView.as_view(), name="api-task-draft"),
    path("api/tasks/<id:pk>/submit", work_api.SubmitView.as_view(), name="api-task-submit"),
    path("api/tasks/<id:pk>/leave", work_api.LeaveView.as_view(), name="api-task-leave"),
    path("api/tasks/<id:pk>/skip", work_api.SkipView.as_view(), name="api-task-skip"),
    path("api/images/<id:pk>/file", work_api.ImageFileView.as_view(), name="api-image-file"),
    path("api/reviews/next", work_api.NextReviewView.as_view(), name="api-review-next"),
    path("api/tasks/<id:pk>/review", work_api.ReviewView.as_view(), name="api-task-review"),
    path("api/tasks/<id:pk>/history", work_api.HistoryView.as_view(), name="api-task-history"),
    path("api/tasks/priority", work_api.PriorityView.as_view(), name="api-task-priority"),
    re_path(
        r"^api/tasks/(?P<pk>[0-9]{1,18})/(?P<action>release|assign|requeue|retry)$",
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
]
