from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

project_key_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]{1,15}$",
    "A project key is 2 to 16 characters: an upper-case letter, then upper-case letters or digits.",
    code="invalid_key",
)


class Project(models.Model):
    """An ISO 26262 item under development, with its own evidence ledger and members."""

    key = models.CharField(max_length=16, unique=True, validators=[project_key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    webhook_secret = models.CharField(
        max_length=200, blank=True, help_text="shared secret of the Git hosting webhooks"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["webhook_secret"])

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    ENGINEER = "engineer", "Engineer"
    SAFETY_MANAGER = "safety_manager", "Safety manager"
    ASSESSOR = "assessor", "Assessor"
    ADMIN = "admin", "Administrator"


class Membership(models.Model):
    """A user's role in one project, and where they sit in the organisation.

    ``team`` and ``org_unit`` feed the ISO 26262-2 independence checks of confirmation measures:
    another team gives I2, another organisational unit (department or external body) gives I3.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    team = models.CharField(max_length=100, blank=True)
    org_unit = models.CharField("organisational unit", max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=[choice.value for choice in Role]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class ProviderIdentity(models.Model):
    """The person at an OpenID provider a single sign-on user stands for: the provider's
    issuer and subject, which together are the only stable identifier OpenID Connect gives
    (Core 5.7; a ``preferred_username`` may pass to someone else later). Bound at the user's
    first login through the provider; a later login as that user needs the same subject."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="provider_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.subject} at {self.issuer}"
