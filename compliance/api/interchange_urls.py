"""URL patterns, filled in by the module they serve."""

urlpatterns: list = []
