#!/usr/bin/env python
"""Django's command-line utility for Gatehouse."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS
    except ImproperlyConfigured as exc:
        # Django's command runner would swallow this and fail later with an unrelated error
        # ("Models aren't loaded yet"): say what is wrong and how to fix it instead.
        sys.exit(f"Gatehouse cannot start: {exc}")
    execute_from_command_line(sys.argv)
