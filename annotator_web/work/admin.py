from django.contrib import admin, messages

from annotator_web.work import services
from annotator_web.work.models import (
    AuditEvent,
    Correspondence,
    PartMasks,
    Review,
    SampledPoint,
    Submission,
    Task,
)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "person",
        "stage",
        "state",
        "priority",
        "assignee",
        "lease_expires_at",
        "rejections",
    )
    list_filter = ("project", "stage", "state")
    search_fields = ("assignee__username",)
    actions = ("release", "requeue")

    def _each(self, request, queryset, action):
        done = 0
        for task in queryset:
            try:
                action(request.user, task.pk)
                done += 1
            except services.WorkError as error:
                self.message_user(request, str(error), messages.WARNING)
        self.message_user(request, f"{done} tasks changed")

    @admin.action(description="Release the leases (back to the queue)")
    def release(self, request, queryset):
        self._each(request, queryset, services.release)

    @admin.action(description="Requeue (do again)")
    def requeue(self, request, queryset):
        self._each(request, queryset, services.requeue)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "annotator", "key", "seconds_spent", "created_at")
    readonly_fields = ("task", "annotator", "key", "data", "seconds_spent")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "reviewer", "decision", "comment", "created_at")
    list_filter = ("decision",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "project", "task", "detail")
    list_filter = ("action", "project")
    readonly_fields = ("at", "actor", "action", "project", "task", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(PartMasks)
admin.site.register(SampledPoint)
admin.site.register(Correspondence)
