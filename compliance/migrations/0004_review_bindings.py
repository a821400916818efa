"""Reviews cite what they confirmed: a requirement's approval the digest of the content it
approved, a confirmation review the digests of the work products in its scope.

Requirements approved before this migration are bound to their current content: a content
change has always sent an approved requirement back to review, so an approved requirement's
approval is of the content it has now. Confirmation reviews recorded before it cite the
work products of the baseline they were signed against, if any, and nothing otherwise, so a
review whose scope holds work products reads stale until it is confirmed again.
"""

from django.db import migrations, models


def bind_approved_requirements(apps, schema_editor):
    from compliance.reviews import requirement_digest_of_row, scope_digests

    Requirement = apps.get_model("compliance", "Requirement")
    approved = Requirement.objects.filter(status="approved")
    for pk, version, *row in approved.values_list(
        "pk", "version", "code", "kind", "title", "text", "asil"
    ).iterator():
        Requirement.objects.filter(pk=pk).update(
            approved_digest=requirement_digest_of_row(row), approved_version=version
        )
    Approval = apps.get_model("compliance", "Approval")
    for approval in Approval.objects.exclude(baseline=None).select_related("baseline"):
        approval.cited = scope_digests(approval.measure, approval.baseline.content)
        approval.save(update_fields=["cited"])


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0003_acceptance_criterion_scope"),
    ]

    operations = [
        migrations.AddField(
            model_name="approval",
            name="cited",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="digest of each work product the review confirmed, by key "
                "(compliance.reviews)",
            ),
        ),
        migrations.AddField(
            model_name="requirement",
            name="approved_digest",
            field=models.CharField(
                blank=True,
                help_text="digest of the content the last approval confirmed",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="requirement",
            name="approved_version",
            field=models.PositiveIntegerField(
                blank=True, help_text="the version the last approval confirmed", null=True
            ),
        ),
        migrations.AddField(
            model_name="historicalrequirement",
            name="approved_digest",
            field=models.CharField(
                blank=True,
                help_text="digest of the content the last approval confirmed",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="historicalrequirement",
            name="approved_version",
            field=models.PositiveIntegerField(
                blank=True, help_text="the version the last approval confirmed", null=True
            ),
        ),
        migrations.RunPython(bind_approved_requirements, migrations.RunPython.noop),
    ]
