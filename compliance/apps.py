from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self):
        # verify_ledger compares the review rows with their entries; evidence may not import
        # this app, so the check is registered from here.
        from compliance.integrity import row_problems
        from evidence.verification import register_row_check

        register_row_check("compliance reviews", row_problems)
