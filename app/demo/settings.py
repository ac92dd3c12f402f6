"""Settings of the demo API, read from the environment (see the README's settings table).

Production is the default: DEBUG is off, DJANGO_SECRET_KEY and a database must be given. Local
development opts in with DJANGO_DEBUG=true, which also allows the SQLite fallback.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from demo.env import database_config, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105  (debug only, never served)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

# The Django admin is off unless asked for, and even then answers only on the image's admin
# listener (127.0.0.1:8001 in the pod, reached with `kubectl port-forward`), never on the public
# port: the front server marks its requests with this per-start key (serve.py), and any request
# without it gets a 404 on /admin/ (demo/admin_middleware.py).
ADMIN_ENABLED = env_bool("DJANGO_ADMIN_ENABLED", default=False)
ADMIN_LISTENER_KEY = os.environ.get("DJANGO_ADMIN_LISTENER_KEY", "")
if ADMIN_ENABLED:
    # What a browser sends as Host through `kubectl port-forward`.
    ALLOWED_HOSTS += [host for host in ("localhost", "127.0.0.1") if host not in ALLOWED_HOSTS]

# Optional write protection (api/write_token.py): unset, the API is open as in the original.
WRITE_TOKEN = os.environ.get("APP_WRITE_TOKEN", "").strip()

# Unpaged lists too large for the front server to buffer need one of these slots (api/large_lists.py),
# so slow readers of them never hold every worker: one fewer than the workers, at least one. The
# slots are lock files in the image's run folder; without one (gunicorn alone, runserver) none are needed.
LARGE_LIST_SLOT_DIR = os.environ.get("APP_RUN_DIR", "")
LARGE_LIST_SLOTS = env_int("APP_LARGE_LIST_SLOTS", max(1, env_int("WEB_CONCURRENCY", 2) - 1))

# The largest request body accepted (413 above it). An API body is a few hundred bytes; the image's
# front server applies the same limit before a body reaches gunicorn (serve.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("APP_MAX_BODY_BYTES", 16 * 1024)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "api",
]

MIDDLEWARE = [
    # Outermost, so the logged duration covers everything below it.
    "demo.access_log.AccessLogMiddleware",
    # Before SecurityMiddleware and CommonMiddleware: kubelet probes send the pod IP as Host, which
    # ALLOWED_HOSTS does not list; these two paths answer without ever reading the Host header.
    "demo.health.HealthCheckMiddleware",
    "demo.errors.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, users and messages serve the admin only; the API is public and stateless.
    "demo.admin_middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "demo.admin_middleware.AdminAuthenticationMiddleware",
    "demo.admin_middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
CSRF_FAILURE_VIEW = "demo.errors.csrf_failure"
WSGI_APPLICATION = "demo.wsgi.application"

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
            ],
        },
    },
]

_database = database_config()
if _database is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "No database configured: set DATABASE_URL or POSTGRES_HOST "
            "(SQLite is for local development: DJANGO_DEBUG=true)"
        )
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_SQLITE_PATH", BASE_DIR / "db.sqlite3"),
    }
DATABASES = {"default": _database}
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

# Messages are shown by the admin only, which keeps them in its session. The default storage
# also reads and writes a cookie store on every request, the API's included.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, pre-compressed files collected at image build time; WhiteNoise serves them from gunicorn.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # The API is public, as in the original; no authentication means no session lookup per request.
    # APP_WRITE_TOKEN adds a token check to creates only (api/views.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # JSON only in production; the browsable HTML API is a development aid (DJANGO_DEBUG=true).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ShortcutContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Demo users API",
    "DESCRIPTION": "Users with a unique dni and a name.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Security headers and cookies. DJANGO_HTTPS=true when TLS reaches the app (or a proxy in front
# sets X-Forwarded-Proto); the cluster's NodePort serves plain HTTP, where redirects to https and
# secure-only cookies would break every client.
HTTPS = env_bool("DJANGO_HTTPS", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if not SECURE_HSTS_PRELOAD:
        # W021: joining the browsers' preload list binds the whole domain to HTTPS for months and
        # is hard to undo; the operator opts in with DJANGO_HSTS_PRELOAD=true.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
else:
    # Only these deploy checks depend on HTTPS, and over plain HTTP they cannot be met:
    # W004 HSTS, W008 SSL redirect, W010 secure session cookie, W016 secure CSRF cookie. (W010 is
    # the session cookie check Django runs when the session middleware is its admin-only subclass.)
    SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008", "security.W010", "security.W016"]

LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "demo.logging.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's default handlers (a debug-only stderr copy and mail_admins).
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # 4xx lines from django.request would repeat the access log; its 5xx tracebacks stay.
        "django.request": {"level": "ERROR"},
        # runserver's own access log, likewise a duplicate.
        "django.server": {"level": "WARNING"},
        # Django logs a bad Host header at ERROR with a traceback; demo/errors.py logs it once at
        # WARNING instead: a scanner's request is not a fault of the server.
        "django.security.DisallowedHost": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}
