from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EvidenceConfig(AppConfig):
    name = "evidence"

    def ready(self) -> None:
        # Once per migrate (the signal is sent for every app; this listens for its own).
        post_migrate.connect(grant_after_migrate, sender=self)
        from evidence.signals import checkpoint_committed
        from evidence.tasks import on_checkpoint_committed

        checkpoint_committed.connect(on_checkpoint_committed, dispatch_uid="evidence.witnesses")


def grant_after_migrate(sender, using, **kwargs) -> None:
    """After ``migrate`` run as the owner, grant the application role its privileges again.

    Runs only when ``DATABASE_OWNER_URL`` is set and the migrating connection is not the
    application role itself, so that every table a migration adds gets exactly what its list in
    ``evidence/db.py`` allows. The same signal follows ``flush``, which the application role may
    run in tests; it then does nothing.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    from evidence.db import RoleError, grant_app_role

    connection = connections[using]
    app_user = settings.DATABASE_APP_USER
    if (
        connection.vendor != "postgresql"
        or not settings.DATABASE_OWNER_URL
        or not app_user
        or connection.settings_dict.get("USER") == app_user
    ):
        return
    try:
        grant_app_role(connection, app_user)
    except RoleError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL's role: {exc}") from exc
