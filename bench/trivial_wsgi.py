"""The baselines: the most trivial Django view, served by the same gunicorn settings as Gatehouse.

BENCH_TRIVIAL=startproject (the default): the view behind the middleware `django-admin startproject` puts
in a new project - "a plain Django view", what the performance targets are ratios of. BENCH_TRIVIAL=bare:
no middleware at all, the ceiling of Django and gunicorn alone on this machine. Neither touches a database.
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

STARTPROJECT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-trivial-view-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=STARTPROJECT_MIDDLEWARE if os.getenv("BENCH_TRIVIAL", "startproject") == "startproject" else [],
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                    "django.contrib.messages"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("", ok)]
application = get_wsgi_application()
