"""Witness processes on 127.0.0.1 and a log kept in memory, signed like a Safecase log."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import verify

ROOT = Path(__file__).resolve().parents[2]
LOG_NAME = "site-a.example/ledger"


@dataclass
class MemoryLog:
    """A log of leaf hashes with a signing key: checkpoints and consistency proofs."""

    key: Ed25519PrivateKey
    name: str = LOG_NAME
    origin: str = f"{LOG_NAME}/AEB"
    leaves: list[bytes] = field(default_factory=list)

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def vkey(self) -> str:
        return verify.format_vkey(self.name, self.public)

    def add(self, *items: bytes) -> None:
        self.leaves += [verify.leaf_hash(item) for item in items]

    def checkpoint(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        body = verify.format_checkpoint_body(
            self.origin, size, verify.root_hash(self.leaves[:size])
        )
        key_id = verify.note_key_id(self.name, self.public)
        return verify.format_signed_note(body, [(self.name, key_id, self.key.sign(body.encode()))])

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = len(self.leaves) if new is None else new
        if old == 0 or old == new:
            return []
        return verify.consistency_proof_from_leaves(self.leaves[:new], old)

    def fork(self, at: int) -> MemoryLog:
        """The same log (same key) rewritten from entry ``at`` on: another branch."""
        other = MemoryLog(self.key, self.name, self.origin, list(self.leaves[:at]))
        other.add(*(f"rewritten {i}".encode() for i in range(at, len(self.leaves))))
        return other


@dataclass
class WitnessProcess:
    name: str
    key_file: Path
    state: Path
    log_keys: Path
    vkey: str = ""
    url: str = ""
    process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "witness", "serve", "--name", self.name]
        command += ["--key", str(self.key_file), "--state", str(self.state)]
        command += ["--log-key", str(self.log_keys), "--listen", "127.0.0.1:0"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline()
        assert line.startswith("witness "), f"the witness did not start: {line!r}"
        self.url = line.split(" listening on ", 1)[1].strip()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None


def add_checkpoint(url: str, old: int, proof: list[bytes], note: str):
    """POST add-checkpoint; return (status, content type, body text)."""
    from witness.protocol import format_request

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/add-checkpoint", body=format_request(old, proof, note))
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def memory_log() -> MemoryLog:
    log = MemoryLog(Ed25519PrivateKey.generate())
    log.add(*(f"entry {i}".encode() for i in range(8)))
    return log


@pytest.fixture
def witnesses(tmp_path, memory_log):
    """Three witness processes pinning the memory log's key; stopped at the end."""
    keys = tmp_path / "log-keys.txt"
    keys.write_text(memory_log.vkey() + "\n")
    started = []
    for number in (1, 2, 3):
        name = f"w{number}.example/witness"
        key_file = tmp_path / f"w{number}.key"
        made = subprocess.run(
            [sys.executable, "-m", "witness", "keygen", "--name", name, "--key", str(key_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        process = WitnessProcess(name, key_file, tmp_path / f"w{number}-state", keys)
        process.vkey = made.stdout.strip()
        process.start()
        started.append(process)
    yield started
    for process in started:
        process.stop()
