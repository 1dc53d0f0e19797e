from django.contrib import admin

from annotator_web.core import jobs
from annotator_web.core.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "progress", "message", "created_by", "attempts", "created_at")
    list_filter = ("state", "kind", "queue")
    search_fields = ("kind", "message", "error", "created_by__username")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ("cancel",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        for job in queryset:
            jobs.cancel_job(job)
