"""Views of the web UI, one module per area. Each resolves the project for the user through
:mod:`projects.permissions`, reads through selectors and writes through services."""
