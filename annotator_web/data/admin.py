from django.contrib import admin

from annotator_web.data.models import Image, ImageTruth, Person, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "body_model", "synthetic", "paused", "created_at")
    search_fields = ("name", "title")
    filter_horizontal = ("members",)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "file", "width", "height", "source", "source_id", "split")
    list_filter = ("project", "source", "split")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("id", "image", "x", "y", "w", "h")
    list_filter = ("image__project",)


@admin.register(ImageTruth)
class ImageTruthAdmin(admin.ModelAdmin):
    list_display = ("image",)
    readonly_fields = ("image", "file", "people", "generator")
