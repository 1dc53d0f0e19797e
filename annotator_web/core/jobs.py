"""Long-running work as a resource: job kinds, starting, running with progress and heartbeat, recovery.

A job kind is a function ``run(job, ctx) -> dict`` declared with :func:`job_kind` and registered at start-up from
the list ``settings.JOB_KINDS`` (:func:`register_kinds`, called by the core app: importing a module registers
nothing, so the list is the one place that says which kinds exist). Starting a job stores a
``Job`` row and, once that row is committed, sends one Celery message (task ``jobs.run``) to the kind's queue.

Exactly-once results under worker death:

- The broker keeps a message until the task finishes (``acks_late``); a worker whose pool process dies
  hands the message back (``reject_on_worker_lost``).
- A worker that claims a job writes a heartbeat every ``JOB_HEARTBEAT_SECONDS``. If the whole worker is
  killed, the heartbeat goes stale; every worker runs a sweeper that queues such jobs again, on any broker.
- A claim is a compare-and-set on the job row, and each run carries its attempt number: a duplicate
  message for a job that is finished or running elsewhere is dropped, and only the current attempt may
  write the result.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotator_web.core.models import Job

log = logging.getLogger(__name__)

State = Job.State


class JobError(Exception):
    """A job failed for a reason the user should read (no traceback needed)."""


class JobCancelled(Exception):
    pass


class JobLost(Exception):
    """Another worker took this job over (this one was presumed dead): stop without writing anything."""


PARAM_TYPES = ("text", "number", "boolean", "choice")


@dataclass(frozen=True)
class JobParam:
    """A parameter of a kind of job: the Jobs page asks for it by its type, and :func:`clean_params` checks it
    when a job starts (from the page, the API or a command), filling in the default. Types: ``text``,
    ``number`` (a whole number, 0 or more), ``boolean`` and ``choice`` (one of ``choices``: a tuple, or a
    function that lists them now, e.g. the projects' names)."""

    name: str
    label: str
    type: str = "text"
    default: object = ""
    required: bool = True  # False: may be left empty (text) and then means what the label says
    choices: tuple | Callable[[], list] = ()

    def __post_init__(self):
        if self.type not in PARAM_TYPES:
            raise ValueError(f"job parameter {self.name!r}: type {self.type!r} is not one of {PARAM_TYPES}")
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"job parameter {self.name!r}: choices go with type 'choice' only")

    def options(self) -> list:
        """The choices as they are now."""
        return list(self.choices() if callable(self.choices) else self.choices)

    def clean(self, value):
        """The value a job gets; raises ValueError saying what is wrong."""
        if value is None or (value == "" and self.type != "boolean"):
            if self.required and self.default in (None, "") and self.type != "text":
                raise ValueError(f"{self.name}: required")
            value = self.default
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
                raise ValueError(f"{self.name}: a whole number, 0 or more, not {value!r}")
            return int(value)
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name}: true or false, not {value!r}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{self.name}: text, not {value!r}")
        value = value.strip()
        if self.type == "choice" and value not in (options := self.options()):
            raise ValueError(f"{self.name}: one of {', '.join(map(str, options)) or '(none yet)'}, not {value!r}")
        if self.required and not value:
            raise ValueError(f"{self.name}: required")
        return value


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    run: Callable[[Job, JobContext], dict]
    queue: str = "default"
    roles: frozenset[str] = frozenset({"admin"})  # who may start it; none: the system's own (admins cancel those)
    params: tuple[JobParam, ...] = ()
    # called once the job has ended without a result (failed or cancelled, however that came about): what
    # waited for it is put where someone can act on it (see work.processing)
    on_stop: Callable[[Job], None] | None = None
    # a check of the cleaned parameters that the run itself would make at once: ValueError refuses the start
    check: Callable[[dict], None] | None = None

    @property
    def system(self) -> bool:
        """The system's own kind (no role starts it, e.g. processing a submission)."""
        return not self.roles


_KINDS: dict[str, JobKind] = {}


def job_kind(name: str, *, title: str, queue: str = "default", roles=("admin",), params=(), on_stop=None, check=None):
    """Declare ``run(job, ctx) -> result dict`` as a kind of job (``params`` are asked for on the Jobs page,
    ``check`` refuses parameters the run would fail on at once, ``on_stop`` is told when a job ends without a
    result); it runs once it is listed in ``settings.JOB_KINDS``."""
    if queue not in settings.JOB_QUEUES:
        raise ValueError(f"job kind {name!r}: unknown queue {queue!r}, expected one of {settings.JOB_QUEUES}")

    def declare(run):
        run.job_kind = JobKind(
            name=name,
            title=title,
            run=run,
            queue=queue,
            roles=frozenset(roles),
            params=tuple(params),
            on_stop=on_stop,
            check=check,
        )
        return run

    return declare


def register_kinds(paths) -> None:
    """Register the job kinds named by dotted paths to their ``@job_kind`` functions (``settings.JOB_KINDS``)."""
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    for path in paths:
        kind = getattr(import_string(path), "job_kind", None)
        if not isinstance(kind, JobKind):
            raise ImproperlyConfigured(f"JOB_KINDS: {path} is not a function declared with @job_kind")
        if _KINDS.get(kind.name, kind) is not kind:
            raise ImproperlyConfigured(f"JOB_KINDS: job kind {kind.name!r} is declared twice")
        _KINDS[kind.name] = kind


def kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def get_kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise JobError(f"unknown job kind {name!r}; known kinds: {', '.join(sorted(_KINDS)) or 'none'}") from None


# --- starting --------------------------------------------------------------------------------------------


def clean_params(kind: JobKind, params: dict) -> dict:
    """A kind's declared parameters checked and completed with their defaults (others pass as they are);
    raises JobError naming every parameter that is wrong."""
    if not isinstance(params, dict):
        raise JobError("params is a JSON object")
    out, problems = dict(params), []
    for p in kind.params:
        try:
            out[p.name] = p.clean(params.get(p.name))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise JobError("; ".join(problems))
    if kind.check is not None:
        try:
            kind.check(out)
        except ValueError as exc:
            raise JobError(str(exc)) from None
    return out


def start_job(kind_name: str, *, params: dict | None = None, user=None) -> Job:
    """Check the parameters, create the job and queue it once the surrounding transaction commits."""
    kind = get_kind(kind_name)
    params = clean_params(kind, params or {})
    job = Job.objects.create(kind=kind.name, params=params, created_by=user, queue=kind.queue, message="queued")
    transaction.on_commit(lambda: send(job))
    return job


def unfinished_job(kind_name: str, **params) -> Job | None:
    """A queued or running job of this kind whose params have these values (to avoid starting it twice)."""
    match = {f"params__{key}": value for key, value in params.items()}
    return Job.objects.filter(kind=kind_name, state__in=(State.QUEUED, State.RUNNING), **match).first()


def send(job: Job) -> bool:
    """Hand the job to the broker. If the broker cannot take it now, the job stays queued and a worker's
    sweeper sends it again later (see :func:`resend_waiting_jobs`)."""
    from annotator_web.core.tasks import run_job

    try:
        if not settings.REDIS_URL:
            settings.DATA.broker.mkdir(parents=True, exist_ok=True)
        run_job.apply_async(args=[job.pk], queue=job.queue)
    except Exception:
        log.exception("could not send job %s to the broker; it stays queued and will be sent again", job.pk)
        # not at the broker: sent again at the next sweep that finds the broker answering
        Job.objects.filter(pk=job.pk, state=State.QUEUED).update(sent_at=None)
        return False
    Job.objects.filter(pk=job.pk).update(sent_at=timezone.now(), sends=F("sends") + 1)
    return True


def cancel_job(job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.finished:
            return job
        if job.state == State.QUEUED:
            job.state = State.CANCELLED
            job.finished_at = timezone.now()
            job.message = "cancelled before it started"
        else:
            job.message = "cancelling…"
        job.cancel_requested = True
        job.save()
    if job.state == State.CANCELLED:
        stopped(job)
    return job


def stopped(job: Job) -> None:
    """Tell the job's kind that it ended without a result (its ``on_stop``). A hook that fails is logged: the
    job's end stands, and what waited for it stays where an admin finds it."""
    kind = _KINDS.get(job.kind)
    if kind is None or kind.on_stop is None:
        return
    try:
        kind.on_stop(job)
    except Exception:
        log.exception("job %s (%s) ended as %s; telling its kind failed", job.pk, job.kind, job.state)


# --- running ---------------------------------------------------------------------------------------------


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)


def claim(job_id: int, worker: str) -> Job | None:
    """Take the job for this worker, or None if it is finished, cancelled or alive elsewhere."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            log.warning("job %s does not exist (deleted?); dropping its message", job_id)
            return None
        if job.finished:
            log.info("job %s is already %s; dropping a duplicate message", job_id, job.state)
            return None
        if job.state == State.RUNNING and job.heartbeat_at and job.heartbeat_at >= _stale_before():
            log.info("job %s is running on %s; dropping a duplicate message", job_id, job.worker)
            return None
        now = timezone.now()
        if job.cancel_requested:
            job.state, job.finished_at, job.message = State.CANCELLED, now, "cancelled"
            job.save()
            transaction.on_commit(lambda: stopped(job))
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job.state, job.finished_at = State.FAILED, now
            job.error = f"gave up after {job.attempts} attempts: the worker running it died each time"
            job.message = "failed"
            job.save()
            transaction.on_commit(lambda: stopped(job))
            return None
        job.state = State.RUNNING
        job.attempts += 1
        job.worker = worker
        job.heartbeat_at = now
        job.started_at = job.started_at or now
        job.message = "started" if job.attempts == 1 else f"started again (attempt {job.attempts})"
        job.error = job.traceback = ""
        job.save()
        return job


def _mine(job: Job):
    """The row of this run of the job: other runs (a worker taken for dead) no longer match."""
    return Job.objects.filter(pk=job.pk, attempts=job.attempts, state=State.RUNNING)


def output_folder(job: Job) -> Path:
    """Where a running job writes its files (its context's ``output_dir``)."""
    return Path(settings.MEDIA_ROOT) / "jobs" / str(job.pk)


class JobContext:
    """What a running job uses to report progress; it raises when the job was cancelled or taken over."""

    min_interval = 0.5  # seconds between progress writes

    def __init__(self, job: Job, listener: Callable[[float, str | None], None] | None = None):
        self.job = job
        self.listener = listener
        self.lost = threading.Event()
        self._last_write = 0.0
        self._last_percent = -1.0

    @property
    def output_dir(self) -> Path:
        """The folder for this job's files, under MEDIA_ROOT."""
        path = output_folder(self.job)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def progress(self, percent: float, message: str | None = None, *, force: bool = False) -> None:
        if self.lost.is_set():
            raise JobLost()
        percent = max(0.0, min(100.0, float(percent)))
        if self.listener is not None:
            self.listener(percent, message)
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval and abs(percent - self._last_percent) < 5:
            return
        fields = {"progress": percent, "heartbeat_at": timezone.now()}
        if message is not None:
            fields["message"] = message[:500]
        if _mine(self.job).update(**fields) == 0:
            self.lost.set()
            raise JobLost()
        self._last_write, self._last_percent = now, percent
        self._raise_if_cancelled()
        if settings.DATA.pause_jobs_file.exists():
            self._wait_while_paused(percent, message)

    def _raise_if_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    def _wait_while_paused(self, percent: float, message: str | None) -> None:
        """Wait while the data folder's ``pause-jobs`` file exists (the heartbeat goes on, so the job is not
        taken for dead; a cancel request still ends it)."""
        pause = settings.DATA.pause_jobs_file
        _mine(self.job).update(message=f"paused: remove {pause.name} from the data folder to go on")
        while pause.exists():
            if self.lost.wait(0.2):
                raise JobLost()
            self._raise_if_cancelled()
        _mine(self.job).update(message=(message or "")[:500])


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext):
        super().__init__(name=f"job-{ctx.job.pk}-heartbeat", daemon=True)
        self.ctx = ctx
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                if _mine(self.ctx.job).update(heartbeat_at=timezone.now()) == 0:
                    self.ctx.lost.set()
                    return
        finally:
            connection.close()


def _finish(job: Job, **fields) -> bool:
    fields.setdefault("finished_at", timezone.now())
    with transaction.atomic():
        return _mine(job).update(**fields) == 1


def execute(job_id: int, worker: str, listener=None) -> Job | None:
    """Claim and run one job; returns the job as stored afterwards, or None if this run did not own it.

    ``listener(percent, message)``, if given, sees every progress report (a command-line progress bar)."""
    job = claim(job_id, worker)
    if job is None:
        return None
    if job.attempts > 1:  # the earlier attempt's worker died: what it left half-written goes
        remove_hidden(output_folder(job))
    kind = _KINDS.get(job.kind)
    ctx = JobContext(job, listener)
    beat = _Heartbeat(ctx)
    beat.start()
    try:
        if kind is None:
            raise JobError(f"this worker does not know job kind {job.kind!r}")
        result = kind.run(job, ctx) or {}
        if ctx.lost.is_set():
            raise JobLost()
        result_path = str(result.pop("result_path", ""))
        message = str(result.pop("message", "done"))
        _finish(job, state=State.SUCCEEDED, progress=100.0, result=result, result_path=result_path, message=message)
    except JobLost:
        log.warning("job %s attempt %s was taken over by another worker; stopping", job.pk, job.attempts)
        return None
    except JobCancelled:
        ended = _finish(job, state=State.CANCELLED, message="cancelled")
    except JobError as exc:
        ended = _finish(job, state=State.FAILED, error=str(exc), message="failed")
    except Exception as exc:
        log.exception("job %s (%s) failed", job.pk, job.kind)
        ended = _finish(
            job,
            state=State.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc()[-20000:],
            message="failed",
        )
    else:
        ended = False
    finally:
        beat.stop.set()
        beat.join()
    job = Job.objects.get(pk=job.pk)
    if ended:
        stopped(job)
    return job


# --- recovery --------------------------------------------------------------------------------------------


def requeue_stale_jobs() -> list[int]:
    """Queue again the running jobs whose worker stopped sending heartbeats. Safe to run on many workers."""
    requeued = []
    for job in Job.objects.filter(state=State.RUNNING, heartbeat_at__lt=_stale_before()):
        taken = Job.objects.filter(pk=job.pk, state=State.RUNNING, heartbeat_at=job.heartbeat_at).update(
            state=State.QUEUED,
            worker="",
            message=f"worker {job.worker or '?'} stopped responding; queued again",
        )
        if taken:
            log.warning("job %s lost its worker %s; queued again", job.pk, job.worker)
            send(job)
            requeued.append(job.pk)
    return requeued


UNSENT_GRACE_SECONDS = 5  # a job just made is sent once its transaction commits: not the sweeper's yet


def resend_waiting_jobs() -> list[int]:
    """Send again jobs that wait unstarted:

    - jobs that never reached the broker (it was down when they were started or last sent: ``sent_at`` is
      empty) go at the first sweep that finds it answering, however long they waited;
    - jobs whose message was lost after it was sent (a file-broker message taken by a worker that died) go once
      they have waited ``JOB_RESEND_SECONDS``; waits double between sends, so a long queue does not fill up
      with copies. A copy that does arrive is dropped by :func:`claim`.

    While the broker does not answer, a sweep stops at the first job it cannot send."""
    now = timezone.now()
    resent = []
    grace = timedelta(seconds=settings.JOB_RESEND_SECONDS)
    queued = Job.objects.filter(state=State.QUEUED, cancel_requested=False)
    unsent = queued.filter(sent_at__isnull=True, created_at__lt=now - timedelta(seconds=UNSENT_GRACE_SECONDS))
    for job in list(unsent.order_by("created_at", "id")) + list(queued.filter(created_at__lt=now - grace)):
        if job.pk in resent:
            continue
        if job.sent_at is not None and job.sent_at > now - grace * (2 ** max(job.sends - 1, 0)):
            continue
        # only one sweeper sends it: the first to move sent_at on
        if Job.objects.filter(pk=job.pk, state=State.QUEUED, sent_at=job.sent_at).update(sent_at=now):
            log.warning("job %s is still waiting after %s sends; sending it again", job.pk, job.sends)
            if not send(job):
                break  # the broker does not answer: the others wait for the next sweep
            resent.append(job.pk)
    return resent


# --- what killed processes leave behind --------------------------------------------------------------------

LEFTOVER_SWEEP_SECONDS = 300  # how often a worker's sweeper looks for them
UPLOAD_SPOOL_MAX_AGE_SECONDS = 3600  # a spooled upload not written to for this long belongs to no live request


def remove_hidden(folder: Path) -> list[Path]:
    """Remove a job folder's hidden entries (names starting with a dot): a job's work in progress, e.g. an export's
    staging folder, which its own run removes when it ends."""
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if not path.name.startswith("."):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_leftovers() -> dict:
    """What killed processes left behind: the hidden work in progress of jobs that are not running (their worker
    died and nothing took them up again, or they were given up), and uploads a killed web server process was
    spooling. Returns how many of each went."""
    root = Path(settings.MEDIA_ROOT) / "jobs"
    folders = {int(p.name): p for p in root.iterdir() if p.is_dir() and p.name.isdigit()} if root.is_dir() else {}
    with_hidden = {pk: p for pk, p in folders.items() if any(c.name.startswith(".") for c in p.iterdir())}
    running = set(Job.objects.filter(pk__in=list(with_hidden), state=State.RUNNING).values_list("pk", flat=True))
    partial = sum(len(remove_hidden(p)) for pk, p in with_hidden.items() if pk not in running)
    spooled = 0
    spool = Path(settings.UPLOAD_SPOOL_DIR)
    if spool.is_dir():
        before = time.time() - UPLOAD_SPOOL_MAX_AGE_SECONDS
        for path in spool.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < before:
                    path.unlink()
                    spooled += 1
            except FileNotFoundError:  # its request finished meanwhile
                pass
    if partial or spooled:
        log.warning("removed what killed processes left: %s partial job outputs, %s spooled uploads", partial, spooled)
    return {"partial_outputs": partial, "spooled_uploads": spooled}


class Sweeper(threading.Thread):
    """Runs :func:`requeue_stale_jobs` and :func:`resend_waiting_jobs` every ``JOB_SWEEP_SECONDS`` in a worker's
    main process, and :func:`remove_leftovers` at start and every ``LEFTOVER_SWEEP_SECONDS``."""

    def __init__(self):
        super().__init__(name="job-sweeper", daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        leftovers_at = 0.0
        while True:
            close_old_connections()
            try:
                requeue_stale_jobs()
                resend_waiting_jobs()
                if time.monotonic() - leftovers_at >= LEFTOVER_SWEEP_SECONDS or not leftovers_at:
                    leftovers_at = time.monotonic()
                    remove_leftovers()
            except Exception:
                log.exception("job sweep failed; trying again in %ss", settings.JOB_SWEEP_SECONDS)
            if self.stop.wait(settings.JOB_SWEEP_SECONDS):
                break
        connection.close()
