from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "validation"

    def ready(self) -> None:
        # The services send the shard task by name: register it in every process, so that it
        # also runs in-process when there is no broker. The gap analysis (compliance) lists
        # the criteria no run judged on a case in scope; compliance cannot import validation,
        # so that gap is registered from here.
        from compliance.selectors import register_gap
        from validation import tasks  # noqa: F401
        from validation.selectors import criteria_without_cases

        register_gap("criteria_without_cases", criteria_without_cases)
        # verify_ledger compares each run's verdict rows with its ledger entry.
        from evidence.verification import register_row_check
        from validation.integrity import row_problems

        register_row_check("validation verdicts", row_problems)
