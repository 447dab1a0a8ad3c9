"""Django settings for the django-helpdesk test server.

Environment:
    BRIDGE_DH_DB         SQLite database file (a copy of the migrated template)
    BRIDGE_DH_EMAIL_DIR  where the file e-mail backend writes every e-mail it "sends"
    BRIDGE_DH_MEDIA_DIR  attachments (a temp dir)

The facts that shaped it (django-helpdesk 2.6.1): the REST API is under ``/api/`` and needs
an ``is_staff`` user; ``HELPDESK_TEAMS_MODE_ENABLED`` must be False unless pinax-teams is
installed; ``HELPDESK_KB_ENABLED = False`` breaks its URL conf, so the knowledge base stays
on; token authentication (DRF authtoken) because basic auth re-hashes the password on
every request (PBKDF2, ~360 ms).
"""

from __future__ import annotations

import os
import tempfile

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

# A throw-away key for a loopback-only test server; never used anywhere else.
SECRET_KEY = "bridge-tests-django-helpdesk-not-a-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.django_helpdesk_site.urls"
SITE_ID = 1

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BRIDGE_DH_DB", os.path.join(tempfile.gettempdir(), "bridge-helpdesk.sqlite3")),
        # The threaded server writes from several threads; wait for the lock instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("BRIDGE_DH_MEDIA_DIR", os.path.join(tempfile.gettempdir(), "bridge-helpdesk-media"))
MEDIA_URL = "/media/"

# Every e-mail django-helpdesk sends lands as a file here; the tests read them.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("BRIDGE_DH_EMAIL_DIR", os.path.join(tempfile.gettempdir(), "bridge-helpdesk-mail"))
DEFAULT_FROM_EMAIL = "helpdesk@example.com"

# Fast hashing: the seeded users are created per template build, and nothing here is real.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
    ],
}

HELPDESK_TEAMS_MODE_ENABLED = False
# E-mail settings stay at django-helpdesk's defaults on purpose: the tests prove that with a
# stock installation a public follow-up reaches the submitter and a private one does not.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
