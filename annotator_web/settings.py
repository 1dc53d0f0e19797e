"""Django settings. Every value comes from the environment; nothing is written at import time.

Modes (``APP_ENV``):

- ``production`` (the default): ``SECRET_KEY`` and ``ALLOWED_HOSTS`` must be given, cookies are secure.
- ``development`` (what ``make run`` uses): the secret key is read from ``DATA_DIR/secret_key``, which
  ``python -m annotator_web.datadir`` (run by ``make run``) generates once; hosts default to localhost.
- ``test``: a fixed throw-away key and fast password hashing; used by the test suite only.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from annotator_web.datadir import DataDir

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


APP_ENV = os.environ.get("APP_ENV", "production")
if APP_ENV not in ("production", "development", "test"):
    raise ImproperlyConfigured(f"APP_ENV={APP_ENV!r}: expected production, development or test")
PRODUCTION = APP_ENV == "production"

DATA = DataDir.from_env(BASE_DIR)
DATA_DIR = DATA.root

# --- secrets -----------------------------------------------------------------------------------------
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production, set the SECRET_KEY environment variable to a long random "
            "string. For a local instance use APP_ENV=development (make run does), which keeps a generated "
            "key in the data folder."
        )
    if APP_ENV == "test":
        SECRET_KEY = "insecure-key-for-the-test-suite-only"
    else:
        SECRET_KEY = DATA.read_secret_key()
        if not SECRET_KEY:
            raise ImproperlyConfigured(
                f"No secret key at {DATA.secret_key_file}. Create it with `python -m annotator_web.datadir` "
                "(make run does this), or set SECRET_KEY."
            )

if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use at least 50 random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

DEBUG = _env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=1 is refused in production: it shows settings and code to anyone (APP_ENV)")

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1]")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: list the host names this server answers to, comma-separated")
if PRODUCTION and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS=* is refused in production: name the host names this server answers to")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")

SECURE_COOKIES = _env_bool("SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
BEHIND_PROXY = _env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only in production: redirect plain HTTP and tell browsers so (HSTS). SECURE_SSL_REDIRECT=0 where a proxy
# in front already redirects; SECURE_HSTS_SECONDS=0 to send no HSTS.
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = int(_env_float("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
# Asking browsers' HSTS preload lists to carry the site is the deployer's decision (SECURE_HSTS_PRELOAD=1).
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Content-Security-Policy of every page (annotator_web.core.security): scripts and pictures from this site only
# (inline styles are let through: the admin's pages use style attributes). The API docs page goes without: the
# bundled Swagger UI sets itself up with an inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# --- signing in (annotator_web.core.auth) ---------------------------------------------------------------
LOGIN_FAILURES_PER_ACCOUNT = int(_env_float("LOGIN_FAILURES_PER_ACCOUNT", 5))
LOGIN_FAILURES_PER_ADDRESS = int(_env_float("LOGIN_FAILURES_PER_ADDRESS", 20))
LOGIN_FAILURE_WINDOW_SECONDS = _env_float("LOGIN_FAILURE_WINDOW_SECONDS", 900)
TOKEN_TTL_HOURS = _env_float("TOKEN_TTL_HOURS", 24 * 30)

# --- applications --------------------------------------------------------------------------------------
# Every kind of job, in the order the Jobs page lists them: a function declared with @job_kind
# (annotator_web.core.jobs); registered when the core app starts.
JOB_KINDS = [
    "annotator_web.core.body_assets.build_assets",
    "annotator_web.core.integrity.integrity_check",
    "annotator_web.studies.synthetic.make_synthetic_job",
    "annotator_web.densepose_io.export.export_job",
    "annotator_web.work.processing.process_submission",
    "annotator_web.studies.study.study_job",
    "annotator_web.densepose_io.training_job.train_job",
    "annotator_web.densepose_io.preannotate.preannotate_job",
]

INSTALLED_APPS = [
    "annotator_web.core.admin_site.FactoryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotator_web.core",
    "annotator_web.data",
    "annotator_web.work",
    "annotator_web.densepose_io",
    "annotator_web.studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "annotator_web.core.parsers.RefuseLargeBodiesMiddleware",
    "annotator_web.core.parsers.RefuseNulMiddleware",
    "annotator_web.core.security.ContentSecurityPolicyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotator_web.urls"
WSGI_APPLICATION = "annotator_web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "annotator_web.core.context_processors.role",
            ],
        },
    },
]

# --- database ------------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "") or f"sqlite:///{DATA.sqlite_file}"
# Persistent connections: each web thread and worker process keeps its own for DB_CONN_MAX_AGE seconds instead of
# connecting anew for every request (a fixed number of connections, workers x threads, checked before reuse).
DB_CONN_MAX_AGE = _env_float("DB_CONN_MAX_AGE", 300.0)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(DB_CONN_MAX_AGE), conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker are separate processes writing one file: WAL, a busy timeout and IMMEDIATE
    # transactions keep them from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not memory) so that worker and web processes started by the tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA.root / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if APP_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- files ---------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA.static))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA.media))
# Media is private: files are served by views that check the policy, never under a public URL.
MEDIA_URL = None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The annotator app, built by Vite from frontend/ (make run / make test build it) into frontend/dist/annotate/.
# The built annotator UI; the test suite serves the test build (FRONTEND_DIST=frontend/dist-test, with the
# counters the browser tests read).
FRONTEND_DIST = BASE_DIR / os.environ.get("FRONTEND_DIST", "frontend/dist")
STATICFILES_DIRS = [FRONTEND_DIST]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Body model and where its built assets (charts, views, buffers) are cached, by content hash.
BODY_MODEL = os.environ.get("BODY_MODEL", "anny")
ASSET_CACHE_DIR = Path(os.environ.get("ASSET_CACHE_DIR") or DATA.root / "cache")
# Where a user puts the licensed SMPL model files (never downloaded by this project).
SMPL_MODEL_DIR = Path(os.environ.get("SMPL_MODEL_DIR") or BASE_DIR / "smpl_assets" / "smpl")

# Processes that write a large DensePose-COCO export side by side
EXPORT_WORKERS = int(os.environ.get("EXPORT_WORKERS") or min(2, os.cpu_count() or 1))

# Images taken in by upload or import
MAX_IMAGE_BYTES = int(_env_float("MAX_IMAGE_BYTES", 30e6))
MAX_IMAGE_PIXELS = int(_env_float("MAX_IMAGE_PIXELS", 50e6))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_IMAGE_BYTES + 1_000_000
# A request body larger than this is refused (413) from its Content-Length, before it is read; image uploads
# may carry an image of MAX_IMAGE_BYTES (annotator_web.core.parsers.RefuseLargeBodiesMiddleware).
MAX_REQUEST_BYTES = int(_env_float("MAX_REQUEST_BYTES", 10e6))
UPLOAD_PATHS = (r"^/api/projects/[-\w]+/images$", r"^/admin/")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5_000_000
# larger uploads are spooled in the data folder, where the workers' sweep removes what a killed server left
UPLOAD_SPOOL_DIR = DATA.upload_spool
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "annotator_web.core.parsers.SpoolUploadHandler",
]

# --- REST API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so that an anonymous call gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotator_web.core.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["annotator_web.core.policy.HasRole"],
    "DEFAULT_PARSER_CLASSES": [
        "annotator_web.core.parsers.FiniteJSONParser",  # no NaN, Infinity or 1e999 in any body
        "annotator_web.core.parsers.StorableFormParser",
        "annotator_web.core.parsers.StorableMultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator_web.core.errors.api_exception_handler",  # domain errors -> 4xx, one place
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "DensePose data factory API",
    "DESCRIPTION": "Jobs, task queues, drafts, submissions and reviews of the DensePose annotation pipeline.",
    "VERSION": "1",
    # served from the installed sidecar package: nothing is loaded from the internet
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "TaskStateEnum": "annotator_web.work.models.Task.State",
        "JobStateEnum": "annotator_web.core.models.Job.State",
        "AnswerStatusEnum": "annotator_web.work.services.ANSWER_STATUSES",
    },
}

# --- Celery --------------------------------------------------------------------------------------------
# The queues every worker of the embedded set-up consumes; a GPU machine consumes only "train".
JOB_QUEUES = ("default", "render", "export", "train")

REDIS_URL = os.environ.get("REDIS_URL", "")
# The test suite keeps to a Redis database of its own, so that an instance running on the same Redis (make run
# uses database 0) never takes the tests' jobs, nor the tests its jobs.
TEST_REDIS_DB = 14
if REDIS_URL and APP_ENV == "test":
    from urllib.parse import urlparse

    REDIS_URL = urlparse(REDIS_URL)._replace(path=f"/{TEST_REDIS_DB}").geturl()
CELERY_VISIBILITY_TIMEOUT = int(_env_float("CELERY_VISIBILITY_TIMEOUT", 3600))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    if os.environ.get("CELERY_KEY_PREFIX"):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["CELERY_KEY_PREFIX"]
        CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": os.environ["CELERY_KEY_PREFIX"]}
else:
    # A real worker process over a server-less broker: messages are files in the data folder.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(DATA.broker),
        "data_folder_out": str(DATA.broker),
        "control_folder": str(DATA.broker / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"db+sqlite:///{DATA.root / 'celery-results.sqlite3'}"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Jobs: a running job's worker writes a heartbeat; a job whose heartbeat is older than JOB_STALE_SECONDS
# is taken to have lost its worker and is queued again (at most JOB_MAX_ATTEMPTS runs in all).
JOB_HEARTBEAT_SECONDS = _env_float("JOB_HEARTBEAT_SECONDS", 5.0)
JOB_STALE_SECONDS = _env_float("JOB_STALE_SECONDS", 60.0)
JOB_SWEEP_SECONDS = _env_float("JOB_SWEEP_SECONDS", 20.0)
JOB_MAX_ATTEMPTS = int(_env_float("JOB_MAX_ATTEMPTS", 3))
# A job still waiting unstarted this long after its message was sent is sent again (then after 2x, 4x, ...).
JOB_RESEND_SECONDS = _env_float("JOB_RESEND_SECONDS", 600.0)
if JOB_STALE_SECONDS <= 2 * JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("JOB_STALE_SECONDS must be more than twice JOB_HEARTBEAT_SECONDS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
