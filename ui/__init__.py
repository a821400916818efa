"""The server-rendered web UI: Django templates with htmx, over the apps' selectors and services."""
