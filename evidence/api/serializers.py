import base64
import json

from rest_framework import serializers

from evidence.models import Artifact, Checkpoint, Decision, EntryKind, LogEntry
from projects.api.strict import JSONInput


class EntryOut(serializers.ModelSerializer):
    leaf_hash = serializers.SerializerMethodField()
    envelope = serializers.SerializerMethodField()
    statement = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(
        source="recorded_by.username", default=None, allow_null=True
    )

    class Meta:
        model = LogEntry
        fields = [
            "index",
            "kind",
            "subject",
            "digest",
            "leaf_hash",
            "key_id",
            "recorded_at",
            "recorded_by",
            "envelope",
            "statement",
        ]

    def get_leaf_hash(self, entry) -> str:
        return bytes(entry.leaf_hash).hex()

    def get_envelope(self, entry) -> str:
        """The exact envelope bytes (canonical JSON), base64: hash them to check the leaf."""
        return base64.b64encode(bytes(entry.envelope)).decode()

    def get_statement(self, entry) -> dict:
        envelope = json.loads(bytes(entry.envelope))
        return json.loads(base64.b64decode(envelope["payload"]))


class CheckpointOut(serializers.ModelSerializer):
    root = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["size", "root", "key_id", "note", "created_at"]

    def get_root(self, cp) -> str:
        return bytes(cp.root).hex()


class EntryQuery(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=EntryKind.choices,
        required=False,
        allow_blank=True,
        help_text="only entries of this kind",
    )


class InclusionQuery(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    size = serializers.IntegerField(min_value=1, required=False)


class ConsistencyQuery(serializers.Serializer):
    first = serializers.IntegerField(min_value=1)
    second = serializers.IntegerField(min_value=1, required=False)


class ArtifactOut(serializers.ModelSerializer):
    entry = serializers.IntegerField(source="entry.index")
    trained_on = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = [
            "kind",
            "name",
            "version",
            "uri",
            "sha256",
            "manifest_key",
            "object_count",
            "total_bytes",
            "trained_on",
            "entry",
            "created_at",
        ]

    def get_trained_on(self, artifact) -> str | None:
        t = artifact.trained_on
        return f"{t.name} v{t.version}" if t else None


class DecisionIn(JSONInput, serializers.Serializer):
    title = serializers.CharField(max_length=300)
    context = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField(), min_length=1)
    decision = serializers.CharField()
    consequences = serializers.CharField(required=False, allow_blank=True, default="")


class DecisionOut(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username")
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Decision
        fields = [
            "id",
            "title",
            "context",
            "options",
            "decision",
            "consequences",
            "decided_by",
            "entry",
            "created_at",
        ]
