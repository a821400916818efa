"""Safecase settings: one module, read from the environment.

The defaults are the embedded mode: an SQLite file and a ``file://`` store under ``var/``, and
Celery tasks run in-process. Production sets ``DATABASE_URL`` (PostgreSQL),
``CELERY_BROKER_URL`` (Redis or RabbitMQ), ``SAFECASE_STORAGE_URL`` (``s3://bucket/prefix``),
``SECRET_KEY`` and ``ALLOWED_HOSTS``, and ``DATABASE_OWNER_URL`` for the role that owns the
schema (see "Database roles" below); with ``DEBUG`` off the secure-transport settings below turn
on so that ``manage.py check --deploy`` is clean. Every variable is listed in the README.
"""

import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SAFECASE_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-embedded-development-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, "
            "or set DEBUG=1 for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "projects",
    "evidence",
    "compliance",
    "validation",
    "reports",
    "ui",
    "demo",
]

MIDDLEWARE = [
    "config.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another (PostgreSQL in production).
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'safecase.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}

# Database roles (PostgreSQL). DATABASE_URL is the application role: it may only read and append
# to the ledger tables and owns nothing, so it cannot lift the append-only triggers
# (``evidence/db.py``). DATABASE_OWNER_URL is the role that owns the schema; the commands that
# change the schema or its grants connect as it, everything else as the application role. Its
# post_migrate handler then grants the application role (DATABASE_APP_USER) what it may do.
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL") or ""
DATABASE_APP_USER = DATABASES["default"].get("USER") or ""
OWNER_COMMANDS = ("migrate", "grant_app_role")


def _running_owner_command(argv: list[str]) -> bool:
    return (
        len(argv) > 1
        and Path(argv[0]).name in ("manage.py", "django-admin")
        and argv[1] in OWNER_COMMANDS
    )


if DATABASE_OWNER_URL and _running_owner_command(sys.argv):
    _owner = dj_database_url.parse(DATABASE_OWNER_URL, conn_max_age=0)
    _where = ("ENGINE", "HOST", "PORT", "NAME")
    if [_owner.get(k) for k in _where] != [DATABASES["default"].get(k) for k in _where]:
        raise ImproperlyConfigured(
            "DATABASE_OWNER_URL and DATABASE_URL must name the same database "
            "(engine, host, port and name); only the user and password differ."
        )
    DATABASES["default"] = _owner

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside the single writer; the timeout makes writers queue, not fail.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "ui:login"
LOGIN_REDIRECT_URL = "/"

# E-mail (review requests, mentions): SMTP when EMAIL_HOST is set, else printed on the console
# (the embedded mode). Tests read Django's in-memory outbox.
EMAIL_HOST = env_str("EMAIL_HOST") or ""
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "safecase@localhost"

# Celery: without a broker, tasks run in-process (the embedded mode).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or ""
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else None
)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# In the embedded mode a campaign run's shards go to a background thread pool of this many
# workers (validation/background.py), so the request that starts a run returns at once and the
# run page shows its progress; off (SAFECASE_BACKGROUND_RUNS=0), they run inside the request.
SAFECASE_BACKGROUND_RUNS = env_bool("SAFECASE_BACKGROUND_RUNS", True)
SAFECASE_BACKGROUND_WORKERS = env_int("SAFECASE_BACKGROUND_WORKERS", 1)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The queue this deployment's tasks go to and its workers take them from: two deployments on one
# broker (or a test's process set beside an earlier one) never run each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE") or "celery"
# On AWS, S3 announces new drives on this SQS queue (deploy/aws/safecase.yaml); campaigns that
# watch an s3:// prefix are then fed from it and never list the bucket. Each receive waits up to
# SAFECASE_LAKE_QUEUE_WAIT seconds for a message (long polling).
SAFECASE_LAKE_QUEUE_URL = env_str("SAFECASE_LAKE_QUEUE_URL") or ""
SAFECASE_LAKE_QUEUE_WAIT = env_int("SAFECASE_LAKE_QUEUE_WAIT", 20)
# Where finished runs also write their case results and verdicts as partitioned Parquet
# (validation/results_lake.py): s3://bucket/prefix or file:///path; empty for nowhere.
SAFECASE_RESULTS_URL = env_str("SAFECASE_RESULTS_URL") or ""
# Celery beat: campaigns that watch a data-lake prefix poll it this often (seconds).
CELERY_BEAT_SCHEDULE = {
    "watch-lake": {
        "task": "validation.watch_lake",
        "schedule": float(env_int("SAFECASE_WATCH_INTERVAL", 30)),
    },
    # Drive announcements: each task long-polls the queue once, so one receive is in flight.
    **(
        {
            "lake-events": {
                "task": "validation.consume_lake_events",
                "schedule": float(max(SAFECASE_LAKE_QUEUE_WAIT, 1)),
            }
        }
        if SAFECASE_LAKE_QUEUE_URL
        else {}
    ),
    # Checkpoints an append could not publish (store down) are retried this often (seconds).
    "publish-checkpoints": {
        "task": "evidence.publish_checkpoints",
        "schedule": float(env_int("SAFECASE_PUBLISH_INTERVAL", 60)),
    },
    # With an integration interval, entries not yet covered by a checkpoint are integrated at
    # least this often (seconds), even when no further append comes.
    **(
        {
            "integrate-ledgers": {
                "task": "evidence.integrate_ledgers",
                "schedule": max(env_int("SAFECASE_LEDGER_INTEGRATION_MS", 0) / 1000, 1.0),
            }
        }
        if env_int("SAFECASE_LEDGER_INTEGRATION_MS", 0) > 0
        else {}
    ),
}
# A task a killed worker had taken but not acknowledged is delivered again after this many
# seconds (Redis); keep it above the longest shard.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}

# Where artifacts, dataset manifests and published checkpoints go: file:// or s3://bucket/prefix.
SAFECASE_STORAGE_URL = env_str("SAFECASE_STORAGE_URL") or (VAR_DIR / "store").as_uri()
# The evidence ledger: the installation's Ed25519 signing key (a PEM file, never in the database)
# and the name that signs checkpoints; each project's log origin is "<name>/<project key>".
SAFECASE_SIGNING_KEY_FILE = env_str("SAFECASE_SIGNING_KEY_FILE") or str(
    VAR_DIR / "keys" / "ledger.key"
)
SAFECASE_LOG_NAME = env_str("SAFECASE_LOG_NAME") or "safecase.local/ledger"
# Keys verify_ledger trusts besides the configured key's public half and the keys reached from
# them by signed rotation statements: comma-separated verifier-key files or 64-hex fingerprints.
SAFECASE_TRUSTED_KEYS = [
    item.strip() for item in (env_str("SAFECASE_TRUSTED_KEYS") or "").split(",") if item.strip()
]
# Seconds the dashboard's gap counts may lag a growing log (0: counted again after every new
# entry). Above 0 the page names the entry they were counted at while it lags.
SAFECASE_DASHBOARD_MAX_AGE = env_int("SAFECASE_DASHBOARD_MAX_AGE", 0)
# Seconds a checkpoint may stay unpublished before verify_ledger and /healthz report a failure.
SAFECASE_PUBLISH_GRACE = env_int("SAFECASE_PUBLISH_GRACE", 300)
# The ledger's integration interval (milliseconds; Tessera-style batching). 0: every append signs
# a checkpoint of its own. Above 0: appends within one interval share one signed checkpoint,
# written by the first append after the interval, the periodic task, an export or a proof.
SAFECASE_LEDGER_INTEGRATION_MS = env_int("SAFECASE_LEDGER_INTEGRATION_MS", 0)
# Witnesses that cosign each new checkpoint (C2SP tlog-witness): comma-separated "URL VKEY"
# items, VKEY being the witness's verifier key. verify_ledger fails on a checkpoint older than
# SAFECASE_WITNESS_GRACE seconds that no checkpoint cosigned by SAFECASE_WITNESS_QUORUM of them
# (0: all) covers.
SAFECASE_WITNESSES = [
    item.strip() for item in (env_str("SAFECASE_WITNESSES") or "").split(",") if item.strip()
]
SAFECASE_WITNESS_QUORUM = env_int("SAFECASE_WITNESS_QUORUM", 0)
SAFECASE_WITNESS_GRACE = env_int("SAFECASE_WITNESS_GRACE", 300)
SAFECASE_WITNESS_TIMEOUT = env_int("SAFECASE_WITNESS_TIMEOUT", 5)
# Retention of evidence written to an S3 bucket with Object Lock enabled (COMPLIANCE mode).
SAFECASE_RETENTION_DAYS = env_int("SAFECASE_RETENTION_DAYS", 3650)
# Largest upload or imported file accepted, in bytes.
SAFECASE_MAX_UPLOAD_BYTES = env_int("SAFECASE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)

# Who management commands act as when --user is not given (else the only superuser).
SAFECASE_USER = env_str("SAFECASE_USER") or None
# Password of the demo users that seed_demo creates.
SAFECASE_DEMO_PASSWORD = env_str("SAFECASE_DEMO_PASSWORD") or "safecase-demo"

# --- Executors (validation/execution/spark.py, validation/execution/sagemaker.py). ----------
# The Spark master URL; local[*] uses every core of this machine.
SPARK_MASTER = env_str("SPARK_MASTER") or "local[*]"
# spark.sql.shuffle.partitions: Spark's 200 makes every small shard pay for 200 empty tasks.
SAFECASE_SPARK_SHUFFLE_PARTITIONS = env_int("SAFECASE_SPARK_SHUFFLE_PARTITIONS", 4)
# Cases are hashed into this many applyInPandas groups; 0 gives every case its own group.
SAFECASE_SPARK_BUCKETS = env_int("SAFECASE_SPARK_BUCKETS", 16)
# s3a:// settings, for clusters whose Spark ships hadoop-aws (EMR, Databricks).
SAFECASE_SPARK_S3A = env_bool("SAFECASE_SPARK_S3A", False)
# The S3 endpoint boto3 also uses, handed to s3a: an S3-compatible store (path-style access).
SAFECASE_SPARK_S3A_ENDPOINT = env_str("AWS_ENDPOINT_URL_S3") or env_str("AWS_ENDPOINT_URL") or ""
# SageMaker: the bucket for job inputs and outputs and the execution role ARN (both required
# by the executor), the processing image (the default names no real account: set it), the
# instance type, MaxRuntimeInSeconds, and the region (default boto3's, AWS_DEFAULT_REGION).
SAFECASE_SAGEMAKER_BUCKET = env_str("SAFECASE_SAGEMAKER_BUCKET") or ""
SAFECASE_SAGEMAKER_ROLE = env_str("SAFECASE_SAGEMAKER_ROLE") or ""
SAFECASE_SAGEMAKER_IMAGE = (
    env_str("SAFECASE_SAGEMAKER_IMAGE")
    or "000000000000.dkr.ecr.eu-central-1.amazonaws.com/safecase-kpi:latest"
)
SAFECASE_SAGEMAKER_INSTANCE = env_str("SAFECASE_SAGEMAKER_INSTANCE") or "ml.g5.xlarge"
SAFECASE_SAGEMAKER_MAX_RUNTIME = env_int("SAFECASE_SAGEMAKER_MAX_RUNTIME", 3600)
# Processing jobs Safecase runs at once; further shards wait (validation/execution/sagemaker.py).
SAFECASE_SAGEMAKER_MAX_JOBS = env_int("SAFECASE_SAGEMAKER_MAX_JOBS", 8)
SAFECASE_SAGEMAKER_REGION = env_str("SAFECASE_SAGEMAKER_REGION") or None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "projects.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Safecase API",
    "DESCRIPTION": "ISO 26262 / ISO 21448 safety cases with a tamper-evident evidence ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RequirementKindEnum": "compliance.models.RequirementKind",
        "LinkKindEnum": "compliance.models.LinkKind",
        "RequirementStatusEnum": "compliance.models.RequirementStatus",
        "RunStatusEnum": "validation.models.RunStatus",
        "ExecutorEnum": "validation.models.Executor",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In-process (eager) tasks would log every shard, and kombu warns about the empty
        # broker URL of the embedded mode; workers log through Celery's own setup.
        "celery.app.trace": {"level": "WARNING"},
        "kombu.connection": {"level": "ERROR"},
    },
}

# --- Abuse limits: login lockout, API throttles, request bodies, archive expansion. ---------
# Reverse proxies in front of the application that append to X-Forwarded-For; the client's
# address (for lockout and throttling) is the one the outermost of them saw. 0: REMOTE_ADDR.
SAFECASE_PROXY_COUNT = env_int("SAFECASE_PROXY_COUNT", 0)
# Logins (UI and admin) through django-axes: after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused for the cool-off, which each refused attempt
# restarts; the page says when to try again. Attempts are kept in the database (all processes).
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SAFECASE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SAFECASE_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_CLIENT_IP_CALLABLE = "config.limits.client_ip"
AXES_LOCKOUT_CALLABLE = "config.limits.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# API request rates per client ("N/s|min|hour|day"; empty: unlimited), counted in the
# "throttle" cache: Redis when SAFECASE_CACHE_URL (or a Redis broker) is set, so all
# processes share the count, else this process's memory.
SAFECASE_API_THROTTLE_ANON = env_str("SAFECASE_API_THROTTLE_ANON") or "60/min"
SAFECASE_API_THROTTLE_USER = env_str("SAFECASE_API_THROTTLE_USER") or "1200/min"
SAFECASE_API_THROTTLE_WEBHOOK = env_str("SAFECASE_API_THROTTLE_WEBHOOK") or "600/min"
_CACHE_URL = env_str("SAFECASE_CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
# What the pages keep between requests (the dashboard's gap counts, the GSN argument and its
# drawings, the last ledger check, baseline differences, sessions): in Redis when there is one,
# so that every web worker and Celery worker shares one copy and counts once, else this
# process's memory. The prefix keeps deployments (or databases) sharing a Redis apart.
SAFECASE_CACHE_PREFIX = (
    env_str("SAFECASE_CACHE_PREFIX") or f"safecase:{DATABASES['default']['NAME']}"
)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
            "KEY_PREFIX": SAFECASE_CACHE_PREFIX,
        }
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    "throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
            "KEY_PREFIX": "safecase-throttle",
        }
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
    ),
}
if _CACHE_URL:
    # a session is read on every request: from Redis, written through to the database
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
REST_FRAMEWORK |= {
    "DEFAULT_PARSER_CLASSES": ["config.limits.BoundedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["config.limits.AnonThrottle", "config.limits.UserThrottle"],
}
# JSON bodies (API and webhooks) nested deeper than this are refused with 400.
SAFECASE_MAX_JSON_DEPTH = env_int("SAFECASE_MAX_JSON_DEPTH", 64)
# What an uploaded archive (.reqifz, .xlsx) may expand to in total, counted while it is
# decompressed: a decompression bomb is refused after inflating at most this much.
SAFECASE_MAX_EXPANDED_BYTES = env_int("SAFECASE_MAX_EXPANDED_BYTES", 100 * 1024 * 1024)
# ...and to no more than this many times its own size (real XML deflates 10 to 25-fold).
SAFECASE_MAX_EXPANSION_RATIO = env_int("SAFECASE_MAX_EXPANSION_RATIO", 200)
# Axes logs each refused login; its start-up banner is noise in every command's output.
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}
# --- End of abuse limits. -------------------------------------------------------------------

# --- Single sign-on (OpenID Connect, ui/sso.py): off unless SAFECASE_OIDC_ISSUER is set. ------
# The provider's issuer (checked against the ID token's iss), this client's id (the audience
# checked against aud) and secret, and its endpoints (from the provider's
# /.well-known/openid-configuration). Local accounts keep working beside it.
SAFECASE_OIDC_ISSUER = env_str("SAFECASE_OIDC_ISSUER") or ""
SAFECASE_OIDC_PROVIDER_NAME = env_str("SAFECASE_OIDC_PROVIDER_NAME") or "single sign-on"
OIDC_RP_CLIENT_ID = env_str("SAFECASE_OIDC_CLIENT_ID") or ""
OIDC_RP_CLIENT_SECRET = env_str("SAFECASE_OIDC_CLIENT_SECRET") or ""
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("SAFECASE_OIDC_AUTHORIZATION_ENDPOINT") or ""
OIDC_OP_TOKEN_ENDPOINT = env_str("SAFECASE_OIDC_TOKEN_ENDPOINT") or ""
OIDC_OP_USER_ENDPOINT = env_str("SAFECASE_OIDC_USERINFO_ENDPOINT") or ""
OIDC_OP_JWKS_ENDPOINT = env_str("SAFECASE_OIDC_JWKS_ENDPOINT") or ""
OIDC_RP_SIGN_ALGO = env_str("SAFECASE_OIDC_SIGN_ALGO") or "RS256"
OIDC_RP_SCOPES = env_str("SAFECASE_OIDC_SCOPES") or "openid email profile groups"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
OIDC_TIMEOUT = env_int("SAFECASE_OIDC_TIMEOUT", 10)
# The claim that names the user, the claim that lists their groups, and the roles the groups
# give: comma-separated group=PROJECT:role pairs (the first pair naming a project that matches
# wins; a project named here gets its members' roles from the provider at every login).
SAFECASE_OIDC_USERNAME_CLAIM = env_str("SAFECASE_OIDC_USERNAME_CLAIM") or "preferred_username"
SAFECASE_OIDC_GROUPS_CLAIM = env_str("SAFECASE_OIDC_GROUPS_CLAIM") or "groups"
# The project roles (projects.models.Role, which settings cannot import; a test keeps them equal).
SAFECASE_ROLE_NAMES = ("viewer", "engineer", "safety_manager", "assessor", "admin")


def _oidc_roles(value: str) -> list[tuple[str, str, str]]:
    """``group=PROJECT:role,...`` as ``(group, project key, role)``; a typo stops start-up
    rather than quietly dropping someone's role."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        group, _, target = item.rpartition("=")
        key, _, role = target.partition(":")
        if not group.strip() or not key.strip() or role.strip() not in SAFECASE_ROLE_NAMES:
            raise ImproperlyConfigured(
                f"SAFECASE_OIDC_ROLES: {item!r} is not group=PROJECT:role with role one of "
                f"{', '.join(SAFECASE_ROLE_NAMES)}."
            )
        pairs.append((group.strip(), key.strip(), role.strip()))
    return pairs


SAFECASE_OIDC_ROLES = _oidc_roles(env_str("SAFECASE_OIDC_ROLES") or "")
# Seconds of clock difference allowed with the provider on exp, iat and auth_time.
SAFECASE_OIDC_LEEWAY = env_int("SAFECASE_OIDC_LEEWAY", 30)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("ui.sso.context")
if SAFECASE_OIDC_ISSUER:
    missing = [
        name
        for name, value in (
            ("SAFECASE_OIDC_CLIENT_ID", OIDC_RP_CLIENT_ID),
            ("SAFECASE_OIDC_AUTHORIZATION_ENDPOINT", OIDC_OP_AUTHORIZATION_ENDPOINT),
            ("SAFECASE_OIDC_TOKEN_ENDPOINT", OIDC_OP_TOKEN_ENDPOINT),
            ("SAFECASE_OIDC_USERINFO_ENDPOINT", OIDC_OP_USER_ENDPOINT),
            ("SAFECASE_OIDC_JWKS_ENDPOINT", OIDC_OP_JWKS_ENDPOINT),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(f"SAFECASE_OIDC_ISSUER is set; set {', '.join(missing)} too.")
    AUTHENTICATION_BACKENDS += ["ui.sso.SafecaseOIDCBackend"]
# --- End of single sign-on. -------------------------------------------------------------------

# Secure transport when not in development; TLS ends at a proxy that sets X-Forwarded-Proto.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
