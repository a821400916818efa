"""The evidence ledger's tables.

Entries, Merkle nodes and checkpoints are append-only: database triggers (created by migration
0002) refuse UPDATE and DELETE on them, on PostgreSQL and on SQLite. Nothing in the application
ever changes a row once written; :mod:`evidence.ledger` is the one place that inserts them.
"""

from django.conf import settings
from django.db import models

from projects.models import Project


class EntryKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    MODEL = "model", "Model"
    COMMIT_LINK = "commit-link", "Commit link"
    VALIDATION_RESULT = "validation-result", "Validation result"
    BASELINE = "baseline", "Baseline"
    DECISION = "decision", "Decision"
    APPROVAL = "approval", "Approval"
    REPORT = "report", "Report"
    CHANGE = "change", "Change of a work product"
    MEMBERSHIP = "membership", "Membership change"
    KEY_ROTATION = "key-rotation", "Signing key rotation"
    SUPPLIER_PACKAGE = "supplier-package", "Supplier package import"


class SigningKey(models.Model):
    """A public key that has signed entries or checkpoints; kept after rotation for verification."""

    key_id = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    public_key = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id}"


class LogHead(models.Model):
    """The current size and root of one project's log; its row lock serialises appends."""

    project = models.OneToOneField(Project, on_delete=models.PROTECT, related_name="log_head")
    size = models.BigIntegerField(default=0)
    root = models.BinaryField(max_length=32)
    # The hashes of the perfect subtrees covering [0, size), left to right, concatenated: what
    # the next append needs, so an append reads one row instead of the tree.
    frontier = models.BinaryField(default=b"")

    def __str__(self) -> str:
        return f"{self.project.key} log, {self.size} entries"


class LogEntry(models.Model):
    """One signed statement in a project's log, at a gapless index from 0.

    ``envelope`` holds the exact canonical JSON bytes of the DSSE envelope; the Merkle leaf is
    ``SHA-256(0x00 || envelope)``. ``kind``, ``subject`` and ``digest`` repeat parts of the
    statement for searching and display; the envelope is the evidence.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="log_entries")
    index = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    subject = models.CharField(max_length=500)
    digest = models.CharField(max_length=64, help_text="sha256 of the first subject, hex")
    envelope = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    key_id = models.CharField(max_length=16)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["project", "index"]
        constraints = [
            models.UniqueConstraint(fields=["project", "index"], name="logentry_unique_index"),
            models.CheckConstraint(condition=models.Q(index__gte=0), name="logentry_index_gte_0"),
        ]
        indexes = [models.Index(fields=["project", "kind", "index"], name="logentry_kind")]
        verbose_name_plural = "log entries"

    def __str__(self) -> str:
        return f"{self.project_id}#{self.index} {self.kind} {self.subject}"


class MerkleNode(models.Model):
    """The hash of a perfect subtree: leaves ``[index * 2**level, (index + 1) * 2**level)``.

    Level 0 is not stored (it is ``LogEntry.leaf_hash``). Any range an RFC 9162 proof needs splits
    into such subtrees, so a proof costs one indexed query, never a recomputation of the tree.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "level", "index"], name="merklenode_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class Checkpoint(models.Model):
    """A signed statement of the log's size and root, in the C2SP signed-note format."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="checkpoints")
    size = models.BigIntegerField()
    root = models.BinaryField(max_length=32)
    note = models.TextField()
    key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "size"]
        constraints = [
            models.UniqueConstraint(fields=["project", "size"], name="checkpoint_unique_size")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} checkpoint at {self.size}"


class PendingPublication(models.Model):
    """A checkpoint the store has not yet confirmed: the publication work queue.

    Not evidence and not append-only (checkpoint rows cannot be updated, so their publication
    state lives here): the append inserts a row in its own transaction, and whoever publishes
    the checkpoint (the append after commit, the next append, the periodic task or
    ``publish_checkpoints``) deletes it. Deleting rows by hand hides nothing: ``verify_ledger``
    compares the checkpoints in the database with the store, and reports a checkpoint missing
    from the store as removed unless it is queued here and younger than the grace period.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    checkpoint = models.OneToOneField(Checkpoint, on_delete=models.CASCADE, related_name="pending")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "checkpoint"]

    def __str__(self) -> str:
        return f"pending publication of {self.checkpoint}"


class QueuedEntry(models.Model):
    """A signed statement submitted to a project's log and not yet integrated (group commit).

    :func:`evidence.ledger.enqueue` inserts rows here without taking the log's lock, so many
    clients commit at once; the integrator (:func:`evidence.ledger.integrate`) moves a batch
    into the log at gapless indexes and signs one checkpoint over it, in one transaction that
    also deletes the rows. Not evidence until integrated: the integrator checks each
    envelope's signature against a trusted key, so a row planted here is refused.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    subject = models.CharField(max_length=500)
    digest = models.CharField(max_length=64)
    envelope = models.BinaryField()
    key_id = models.CharField(max_length=16)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["project", "id"]
        indexes = [models.Index(fields=["project", "id"], name="queuedentry_order")]
        verbose_name_plural = "queued entries"

    def __str__(self) -> str:
        return f"{self.project_id} queued {self.kind} {self.subject}"


class WitnessCosignature(models.Model):
    """A witness's cosignature on a checkpoint (https://c2sp.org/tlog-cosignature).

    ``line`` is the signature line exactly as the witness returned it; appended to the
    checkpoint's note it makes the cosigned note that is published to the store and exported in
    packages. A row proves nothing by itself: ``verify_ledger`` and the regulator's verifier
    check every line against the witness keys they are configured with, so a planted row fails
    and a deleted one shows as a checkpoint without its quorum.
    """

    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.PROTECT, related_name="cosignatures"
    )
    witness = models.CharField(max_length=200, help_text="the witness's key name")
    key_id = models.CharField(max_length=8, help_text="the witness's cosigner key id, hex")
    timestamp = models.BigIntegerField(help_text="POSIX seconds, as the witness signed them")
    line = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["checkpoint", "witness"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "witness"], name="cosignature_unique_witness"
            )
        ]

    def __str__(self) -> str:
        return f"{self.witness} on {self.checkpoint}"


class ArtifactKind(models.TextChoices):
    DATASET = "dataset", "Dataset snapshot"
    MODEL = "model", "Model"
    SUPPLIER_PACKAGE = "supplier-package", "Supplier certification package"


class Artifact(models.Model):
    """A registered dataset snapshot or model, content-addressed and recorded in the ledger.

    For a dataset, ``sha256`` is the Merkle root over its manifest (one record per object: key,
    size, sha256, S3 version id); the manifest itself is kept in the store under
    ``manifest_key``. For a model, ``sha256`` is the digest of the model file.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="artifacts")
    kind = models.CharField(max_length=16, choices=ArtifactKind.choices)
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    uri = models.CharField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    manifest_key = models.CharField(max_length=300, blank=True)
    object_count = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    trained_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="models_trained"
    )
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="artifact")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["project", "kind", "name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "name", "version"], name="artifact_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} v{self.version}"


class Decision(models.Model):
    """A documented decision and its rationale (an architecture decision record), in the ledger."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="decisions")
    title = models.CharField(max_length=300)
    context = models.TextField()
    options = models.JSONField(default=list, help_text="the options that were considered")
    decision = models.TextField()
    consequences = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="decision")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return self.title


class SupplierPackage(models.Model):
    """A supplier's certification package, imported after verification (ISO 26262-8 clause 5,
    development interface agreement): the supplier's element as a Safety Element out of Context.

    The zip is kept in the store as an artifact; ``entry`` is the importer's ledger entry that
    names the package digest and the supplier's checkpoint. Rows are written once, by
    :func:`evidence.handoff.package_import`, and never changed.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="supplier_packages")
    origin = models.CharField(max_length=300, help_text="the supplier's log origin")
    supplier_project = models.CharField(max_length=100)
    baseline = models.CharField(max_length=200)
    size = models.BigIntegerField(help_text="the supplier's checkpoint size")
    root = models.CharField(max_length=64, help_text="the supplier's checkpoint root, hex")
    sha256 = models.CharField(max_length=64, help_text="of the package zip")
    file_name = models.CharField(max_length=300)
    artifact = models.OneToOneField(
        Artifact, on_delete=models.PROTECT, related_name="supplier_package"
    )
    entry = models.OneToOneField(
        LogEntry, on_delete=models.PROTECT, related_name="supplier_package"
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "origin", "size"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="supplierpackage_unique")
        ]

    def __str__(self) -> str:
        return f"{self.origin} at {self.size} ({self.sha256[:12]})"


class SupplierClaim(models.Model):
    """A supplier's safety requirement and its latest verification result, as its package
    states them: read-only, cited by the importer's requirements, never edited here."""

    package = models.ForeignKey(SupplierPackage, on_delete=models.PROTECT, related_name="claims")
    code = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, blank=True)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    asil = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=32, blank=True)
    version = models.PositiveIntegerField(default=1)
    entry = models.BigIntegerField(help_text="the requirement's entry in the supplier's log")
    result = models.CharField(max_length=16, blank=True, help_text="pass, fail, inconclusive")
    method = models.CharField(max_length=100, blank=True)
    summary = models.TextField(blank=True)
    verification_entry = models.BigIntegerField(null=True, blank=True)
    cited_by = models.CharField(
        max_length=100, blank=True, help_text="the importer's requirement that cites it"
    )

    class Meta:
        ordering = ["package", "code"]
        constraints = [
            models.UniqueConstraint(fields=["package", "code"], name="supplierclaim_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} of {self.package.origin}"
