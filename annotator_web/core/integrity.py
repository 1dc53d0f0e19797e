"""The data-folder integrity check, a job admins run (and later jobs rely on a sound data folder).

It checks the database itself, that every file the database refers to exists, and hashes every file under
MEDIA_ROOT; against the previous successful check it reports files added, missing, modified, and corrupted
(content changed while size and modification time did not: disk or copy damage, not an edit).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from annotator_web.core.jobs import JobContext, job_kind
from annotator_web.core.models import Job
from pipeline import datafolder

KIND = "integrity_check"
REPORT_NAME = "integrity.json"
LOW_DISK_BYTES = 1024**3
LISTED = 200  # paths listed per category in the job result (the report file has them all)


def check_database() -> dict:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("PRAGMA integrity_check")
            rows = [row[0] for row in cursor.fetchall()]
            return {"vendor": vendor, "ok": rows == ["ok"], "detail": "; ".join(rows)[:2000]}
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": vendor, "ok": True, "detail": "connection answers"}


def missing_referenced_files() -> list[str]:
    """Files named in FileField columns that are not in storage, as 'app.Model.field #pk: name'."""
    missing = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not isinstance(field, models.FileField):
                continue
            rows = model.objects.exclude(**{field.name: ""}).values_list("pk", field.name)
            for pk, name in rows.iterator():
                if not field.storage.exists(name):
                    missing.append(f"{model._meta.label}.{field.name} #{pk}: {name}")
    return missing


def _previous_manifest(job: Job) -> tuple[int | None, dict]:
    previous = (
        Job.objects.filter(kind=KIND, state=Job.State.SUCCEEDED).exclude(pk=job.pk).order_by("-finished_at").first()
    )
    if previous is None or not previous.result_path:
        return None, {}
    try:
        report = json.loads((Path(settings.MEDIA_ROOT) / previous.result_path).read_text())
    except (OSError, ValueError):
        return None, {}
    return previous.pk, datafolder.manifest_from_json(report.get("manifest", []))


@job_kind(KIND, title="Data-folder integrity check", queue="default", roles=("admin",))
def integrity_check(job: Job, ctx: JobContext) -> dict:
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    ctx.progress(0, "checking the database", force=True)
    database = check_database()
    ctx.progress(2, "checking files the database refers to")
    referenced = missing_referenced_files()

    # The reports of integrity checks change with every run; they are not data.
    own_reports = [f"jobs/{pk}" for pk in Job.objects.filter(kind=KIND).values_list("pk", flat=True)]
    files = datafolder.list_files(media, exclude_prefixes=own_reports)
    total_bytes = sum(st.st_size for _, st in files)
    ctx.progress(5, f"hashing {len(files)} files ({total_bytes / 1e6:.1f} MB)", force=True)

    def on_progress(done: int, total: int, rel: str) -> None:
        ctx.progress(5 + 90 * done / max(total, 1), f"hashing {rel}")

    manifest = datafolder.build_manifest(media, files, on_progress)
    baseline_job, baseline = _previous_manifest(job)
    diff = datafolder.compare(baseline, manifest) if baseline_job else datafolder.ManifestDiff()
    free = shutil.disk_usage(settings.DATA_DIR).free

    problems = []
    if not database["ok"]:
        problems.append(f"database integrity check failed: {database['detail']}")
    if referenced:
        problems.append(f"{len(referenced)} files the database refers to are missing")
    if diff.corrupted:
        problems.append(f"{len(diff.corrupted)} files changed content without a change of size or time")
    if diff.missing:
        problems.append(f"{len(diff.missing)} files present at check #{baseline_job} are gone")
    if free < LOW_DISK_BYTES:
        problems.append(f"only {free / 1e6:.0f} MB free in the data folder")

    summary = {
        "ok": not problems,
        "problems": problems,
        "files": len(manifest),
        "bytes": total_bytes,
        "database": database,
        "baseline_job": baseline_job,
        "changes": diff.counts(),
        "free_bytes": free,
        "missing_referenced": referenced[:LISTED],
    }
    report = {**summary, "missing_referenced": referenced, "diff": vars(diff)}
    report["manifest"] = datafolder.manifest_to_json(manifest)
    ctx.progress(97, "writing the report", force=True)
    out = ctx.output_dir / REPORT_NAME
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    summary["result_path"] = out.relative_to(media).as_posix()
    files_text = f"{len(manifest)} file{'' if len(manifest) == 1 else 's'}, {total_bytes / 1e6:.1f} MB"
    summary["message"] = f"{files_text}: " + ("; ".join(problems) if problems else "no problems")
    return summary
