from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "validation"

    def ready(self) -> None:
        # The services send the shard task by name: register it in every process, so that it
        # also runs in-process when there is no broker.
        from validation import tasks  # noqa: F401
