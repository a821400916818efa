#!/usr/bin/env python
"""Django's command-line utility for Safecase."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Nothing configured is the embedded mode on a developer's machine (SQLite under var/,
    # tasks in-process): management commands then run with DEBUG on. A deployment sets
    # DATABASE_URL or SECRET_KEY, and DEBUG stays off unless it is set explicitly.
    configured = ("DEBUG", "DATABASE_URL", "SECRET_KEY", "SECRET_KEY_FILE")
    if not any(os.environ.get(name) for name in configured):
        os.environ["DEBUG"] = "1"
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
