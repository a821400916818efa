"""Commit trailers, ``link_commits`` on real Git repositories, and stale evidence from code."""

import base64
import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import services
from compliance.commits.git import GitError, read_history
from compliance.commits.trailers import parse_trailers, requirement_refs
from compliance.models import CommitLink, Verification
from evidence.models import LogEntry
from evidence.verification import verify_project
from evidence.verify import canonical_json

pytestmark = pytest.mark.django_db


def git_env(home: Path) -> dict:
    """An environment where no system or user configuration changes what git does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
    )
    return env


# --- The trailer parser against git's own -----------------------------------------------------

MESSAGES = {
    "two trailers, a list": (
        "Clamp the brake request\n\nWhy it matters.\n\n"
        "Implements: FSR-001\nVerifies: FSR-012, TSR-003\n"
    ),
    "title only": "Implements: FSR-001\n",
    "not the last paragraph": (
        "Subject\n\nImplements: FSR-001\nRefs: FSR-002\n\nA closing remark, not a trailer.\n"
    ),
    "continuation lines": "Subject\n\nImplements: FSR-001,\n  FSR-002\n\tTSR-003\nRefs: X-1\n",
    "prose in the last paragraph": "Subject\n\nSome prose here\nImplements: FSR-001\n",
    "prose with a Signed-off-by": (
        "Subject\n\nSome prose\nImplements: FSR-001\nSigned-off-by: Ann <ann@example.com>\n"
    ),
    "case and blanks": "Subject\n\nimplements : FSR-001\nVERIFIES:FSR-002 TSR-3\n",
    "trailing comments and blank lines": "Subject\n\nBody.\n\nImplements: FSR-001\n\n# note\n\n",
    "old conflicts block": "Merge\n\nImplements: FSR-001\n\nConflicts:\n\tsrc/brake.c\n",
    "indented first line": "Subject\n\n  indented\nImplements: FSR-001\n",
    "a url counts as a trailer": "Subject\n\nhttps://example.com/x\nImplements: FSR-001\n",
    "dashes line": "Subject\n\n---\nImplements: FSR-001\n",
    "windows line ends": "Subject\r\n\r\nImplements: FSR-001\r\nRefs: FSR-002\r\n",
    "empty value": "Subject\n\nImplements:\nRefs: FSR-002\n",
    "no trailers at all": "Subject\n\nJust a body\nwith two lines.\n",
}


def git_trailers(message: str, home: Path) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse", "--no-divider"],
        input=message.encode(),
        capture_output=True,
        check=True,
        env=git_env(home),
    ).stdout.decode()
    pairs = []
    for line in out.splitlines():
        key, _, value = line.partition(":")
        pairs.append((key, value[1:] if value.startswith(" ") else value))
    return pairs


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_trailers_are_parsed_as_git_parses_them(name, tmp_path):
    message = MESSAGES[name]
    assert parse_trailers(message) == git_trailers(message, tmp_path)


def test_the_parser_finds_the_expected_trailers():
    assert parse_trailers(MESSAGES["two trailers, a list"]) == [
        ("Implements", "FSR-001"),
        ("Verifies", "FSR-012, TSR-003"),
    ]
    assert parse_trailers(MESSAGES["continuation lines"])[0] == (
        "Implements",
        "FSR-001, FSR-002 TSR-003",
    )
    for name in ("title only", "not the last paragraph", "prose in the last paragraph"):
        assert parse_trailers(MESSAGES[name]) == []


def test_requirement_ids_are_split_on_commas_and_blanks():
    message = (
        "Subject\n\nImplements: FSR-001,FSR-002  TSR-003\nverifies: TSR-003.\n"
        "Refs: #123 see FSR-001\nReviewed-by: FSR-777\n"
    )
    assert requirement_refs(message) == [
        ("implements", "FSR-001"),
        ("implements", "FSR-002"),
        ("implements", "TSR-003"),
        ("verifies", "TSR-003"),
        ("refs", "FSR-001"),
    ]


# --- A real repository ------------------------------------------------------------------------


class Repo:
    """A Git repository in a temporary folder, with commits at chosen dates."""

    def __init__(self, path: Path, home: Path):
        self.path, self.env = path, git_env(home)
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, **env) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            check=True,
            env={**self.env, **env},
        )
        return result.stdout.decode().strip()

    def commit(self, message: str, files: dict, date: str, author=("Ann", "ann@example.com")):
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.git("add", name)
        name, email = author
        self.git(
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email}",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_DATE=date,
        )
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def engineer(members):
    return members["engineer"]


@pytest.fixture
def requirements(project, engineer):
    return {
        code: services.requirement_create(
            user=engineer, project=project, code=code, kind="FSR", title=code, asil="B"
        )
        for code in ("FSR-001", "FSR-002", "TSR-002")
    }


@pytest.fixture
def repo(tmp_path):
    repo = Repo(tmp_path / "aeb", tmp_path)
    repo.shas = [
        repo.commit(
            "Add the brake clamp\n\nImplements: FSR-001",
            {"src/brake.c": "clamp();\n"},
            "2024-01-10T10:00:00+01:00",
        ),
        repo.commit(
            "Test the clamp\n\nVerifies: FSR-001, TSR-002\nRefs: FSR-999",
            {"tests/test_brake.c": "test();\n"},
            "2024-01-20T10:00:00+01:00",
            author=("Bob", "bob@example.com"),
        ),
        repo.commit(
            "Mention a requirement in prose\n\nImplements: FSR-002 is not a trailer here.\n\n"
            "Closing words.",
            {"README": "docs\n"},
            "2024-01-30T10:00:00+01:00",
        ),
        repo.commit("Tidy up", {"src/util.c": "x\n"}, "2024-02-05T10:00:00+01:00"),
    ]
    return repo


def link(*args, user="engineer-aeb"):
    out = StringIO()
    call_command("link_commits", "--project", "AEB", *args, "--json", "--user", user, stdout=out)
    return json.loads(out.getvalue())


def commit_entries(project):
    return LogEntry.objects.filter(project=project, kind="commit-link")


def statement(entry) -> dict:
    envelope = json.loads(bytes(entry.envelope))
    return json.loads(base64.b64decode(envelope["payload"]))


class TestLinkCommits:
    def test_trailers_become_links_with_the_commit_facts(self, project, requirements, repo):
        summary = link("--repo", str(repo.path))
        assert summary["commits"] == 4
        assert summary["links"] == 3
        assert summary["unknown_ids"] == ["FSR-999"]
        found = {
            (link.commit, link.requirement.code, link.kind)
            for link in CommitLink.objects.select_related("requirement")
        }
        first, second = repo.shas[0], repo.shas[1]
        assert found == {
            (first, "FSR-001", "implements"),
            (second, "FSR-001", "verifies"),
            (second, "TSR-002", "verifies"),
        }
        row = CommitLink.objects.get(commit=first)
        assert row.tree == repo.git("rev-parse", f"{first}^{{tree}}")
        assert row.author == "Ann <ann@example.com>"
        assert row.authored_at == datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
        assert row.subject == "Add the brake clamp"
        assert row.files == ["src/brake.c"]
        assert row.repository == str(repo.path.resolve())

    def test_each_link_is_a_ledger_entry_on_the_commit_digest(self, project, requirements, repo):
        before = LogEntry.objects.filter(project=project).count()
        link("--repo", str(repo.path))
        entries = list(commit_entries(project).order_by("index"))
        assert len(entries) == 3
        assert LogEntry.objects.filter(project=project).count() == before + 3
        first = repo.shas[0]
        facts = {
            "commit": first,
            "tree": repo.git("rev-parse", f"{first}^{{tree}}"),
            "author": "Ann <ann@example.com>",
            "authoredAt": "2024-01-10T09:00:00Z",
            "subject": "Add the brake clamp",
            "files": ["src/brake.c"],
        }
        entry = next(e for e in entries if e.subject == f"commit:{first}")
        assert entry.digest == hashlib.sha256(canonical_json(facts)).hexdigest()
        predicate = statement(entry)["predicate"]
        assert predicate["commit"] == first
        assert predicate["tree"] == facts["tree"]
        assert predicate["author"] == "Ann <ann@example.com>"
        assert predicate["authoredAt"] == "2024-01-10T09:00:00Z"
        assert predicate["requirement"] == "FSR-001"
        assert predicate["trailer"] == "implements"
        assert predicate["recordedBy"] == "engineer-aeb"
        assert CommitLink.objects.get(commit=first).entry == entry
        assert verify_project(project).ok

    def test_a_second_run_links_nothing_new(self, project, requirements, repo):
        link("--repo", str(repo.path))
        entries = LogEntry.objects.filter(project=project).count()
        links = CommitLink.objects.count()
        again = link("--repo", str(repo.path))
        assert again["commits"] == 4
        assert again["links"] == 0
        assert again["unknown_ids"] == ["FSR-999"]
        assert LogEntry.objects.filter(project=project).count() == entries
        assert CommitLink.objects.count() == links

    def test_a_range_reads_only_its_commits(self, project, requirements, repo):
        summary = link("--repo", str(repo.path), "--rev", f"{repo.shas[0]}..HEAD")
        assert summary["commits"] == 3
        assert summary["links"] == 2
        assert not CommitLink.objects.filter(kind="implements").exists()

    def test_the_remote_url_is_recorded_without_credentials(self, project, requirements, repo):
        repo.git("remote", "add", "origin", "https://ci-bot:s3cr3t@git.example.com/aeb.git")
        summary = link("--repo", str(repo.path))
        assert summary["repository"] == "https://git.example.com/aeb.git"
        assert set(CommitLink.objects.values_list("repository", flat=True)) == {
            "https://git.example.com/aeb.git"
        }
        assert b"s3cr3t" not in b"".join(bytes(e.envelope) for e in commit_entries(project))

    def test_the_text_summary_names_unknown_ids(self, project, requirements, repo):
        out = StringIO()
        call_command(
            "link_commits", "--project", "AEB", "--repo", str(repo.path), "--user", "engineer-aeb",
            stdout=out,
        )  # fmt: skip
        assert "3 new links" in out.getvalue()
        assert "unknown requirement ids: FSR-999" in out.getvalue()


class TestRefusals:
    def nothing_written(self, project, before):
        assert LogEntry.objects.filter(project=project).count() == before
        assert not CommitLink.objects.exists()

    @pytest.mark.parametrize(
        "args",
        [
            lambda target: ["--rev=--output=" + str(target)],
            lambda target: ["--rev", "--output=" + str(target)],
            lambda target: ["--rev=-p"],
        ],
    )
    def test_a_rev_that_looks_like_an_option_is_refused(
        self, project, requirements, repo, tmp_path, args
    ):
        before = LogEntry.objects.filter(project=project).count()
        target = tmp_path / "injected.txt"
        with pytest.raises(CommandError):
            link("--repo", str(repo.path), *args(target))
        assert not target.exists()
        self.nothing_written(project, before)

    def test_the_service_refuses_an_option_as_revision(self, repo, tmp_path):
        target = tmp_path / "x"
        with pytest.raises(GitError, match="must not start with '-'"):
            read_history(repo.path, f"--output={target}")
        assert not target.exists()

    def test_a_folder_that_is_not_a_repository(self, project, requirements, tmp_path, repo):
        before = LogEntry.objects.filter(project=project).count()
        for folder in (tmp_path / "plain", repo.path / "src"):
            folder.mkdir(exist_ok=True)
            with pytest.raises(CommandError, match="is not a git repository") as exc:
                link("--repo", str(folder))
            assert "\n" not in str(exc.value)
        with pytest.raises(CommandError, match="is not a folder"):
            link("--repo", str(tmp_path / "missing"))
        self.nothing_written(project, before)

    def test_a_bad_range_is_a_one_line_error(self, project, requirements, repo):
        before = LogEntry.objects.filter(project=project).count()
        with pytest.raises(CommandError, match="nosuchbranch") as exc:
            link("--repo", str(repo.path), "--rev", "nosuchbranch..HEAD")
        assert "\n" not in str(exc.value)
        self.nothing_written(project, before)

    @pytest.mark.parametrize("who", ["viewer-aeb", "outsider"])
    def test_only_an_editor_may_link(self, project, requirements, repo, outsider, who):
        before = LogEntry.objects.filter(project=project).count()
        with pytest.raises(CommandError):
            link("--repo", str(repo.path), user=who)
        self.nothing_written(project, before)


# --- Stale evidence from code changes ---------------------------------------------------------


def verification(project, engineer, requirement, recorded_at):
    row = services.verification_record(
        user=engineer, project=project, requirement=requirement, method="test", result="pass"
    )
    Verification.objects.filter(pk=row.pk).update(recorded_at=recorded_at)
    return row.pk


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


@pytest.fixture
def implemented(tmp_path):
    """FSR-001 implemented in brake.c (January), FSR-002 in lka.c."""
    repo = Repo(tmp_path / "code", tmp_path)
    repo.commit(
        "Brake clamp\n\nImplements: FSR-001",
        {"src/brake.c": "v1\n", "src/util.c": "u1\n"},
        "2024-01-10T12:00:00+00:00",
    )
    repo.commit(
        "Lane keeping\n\nImplements: FSR-002", {"src/lka.c": "v1\n"}, "2024-01-11T12:00:00Z"
    )
    return repo


@pytest.mark.parametrize("runs", ["one run", "two runs"])
def test_a_change_to_implementing_code_makes_older_evidence_stale(
    project, engineer, requirements, implemented, runs
):
    repo = implemented
    if runs == "two runs":
        link("--repo", str(repo.path))
    fsr1, fsr2 = requirements["FSR-001"], requirements["FSR-002"]
    before_change = verification(project, engineer, fsr1, at("2024-02-01"))
    after_change = verification(project, engineer, fsr1, at("2024-04-01"))
    other = verification(project, engineer, fsr2, at("2024-02-01"))
    change = repo.commit(
        "Retune the clamp\n\nRefs: FSR-002",
        {"src/brake.c": "v2\n"},
        "2024-03-01T12:00:00+00:00",
    )
    summary = link("--repo", str(repo.path))
    assert summary["stale_verifications"] == 1
    stale = Verification.objects.get(pk=before_change)
    assert stale.stale
    assert change[:12] in stale.stale_reason
    assert "src/brake.c" in stale.stale_reason
    assert not Verification.objects.get(pk=after_change).stale
    assert not Verification.objects.get(pk=other).stale


def test_changes_to_other_files_or_unlinked_commits_leave_evidence_alone(
    project, engineer, requirements, implemented
):
    repo = implemented
    link("--repo", str(repo.path))
    fsr1, fsr2 = requirements["FSR-001"], requirements["FSR-002"]
    first = verification(project, engineer, fsr1, at("2024-02-01"))
    second = verification(project, engineer, fsr2, at("2024-02-01"))
    repo.commit("Docs\n\nRefs: FSR-001", {"docs/brake.md": "d\n"}, "2024-03-01T12:00:00Z")
    # Only newly linked commits are checked: this one names no requirement.
    repo.commit("Quick fix without trailer", {"src/lka.c": "v2\n"}, "2024-03-02T12:00:00Z")
    assert link("--repo", str(repo.path))["stale_verifications"] == 0
    assert not Verification.objects.filter(pk__in=[first, second], stale=True).exists()


def test_a_newer_implements_commit_stales_evidence_of_its_own_requirement(
    project, engineer, requirements, implemented
):
    repo = implemented
    link("--repo", str(repo.path))
    old = verification(project, engineer, requirements["FSR-001"], at("2024-02-01"))
    repo.commit("Rework\n\nImplements: FSR-001", {"src/util.c": "u2\n"}, "2024-03-01T12:00:00Z")
    link("--repo", str(repo.path))
    row = Verification.objects.get(pk=old)
    assert row.stale
    assert "src/util.c" in row.stale_reason
