"""The witness's decisions and its HTTP service (``POST /add-checkpoint``).

:meth:`Witness.add_checkpoint` answers one request with a status and a body, as
https://c2sp.org/tlog-witness asks:

- 400: the request is malformed, or its old size exceeds the checkpoint's size;
- 404: no pinned log key is for the checkpoint's origin;
- 403: no signature of a pinned key for that origin verifies;
- 409 (body: the size last cosigned, ``text/x.tlog.size``): the old size is not the size this
  witness last cosigned, or the size is the same and the root differs (a fork);
- 422: the consistency proof from the old size does not verify;
- 200: the cosignature lines, after the new checkpoint was recorded durably.

A log key pins a log by its name: the key named ``N`` is trusted for the origin ``N`` and for
every origin ``N/<anything>`` (a Safecase installation signs one log per project, each with
the origin ``<log name>/<project key>``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witness import protocol
from witness.state import Latest, State

logger = logging.getLogger("witness")

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    def __init__(
        self,
        name: str,
        private: Ed25519PrivateKey,
        log_keys: list[protocol.VerifierKey],
        state: State,
        clock=time.time,
    ):
        self.name = name
        self.private = private
        self.log_keys = log_keys
        self.state = state
        self.clock = clock
        self.vkey = protocol.VerifierKey(
            name, protocol.COSIGNATURE, private.public_key().public_bytes_raw()
        )

    def keys_for(self, origin: str) -> list[protocol.VerifierKey]:
        return [k for k in self.log_keys if origin == k.name or origin.startswith(k.name + "/")]

    def add_checkpoint(self, data: bytes) -> Answer:
        try:
            request = protocol.parse_request(data)
            note = protocol.parse_note(request.note_text)
        except protocol.ProtocolError as exc:
            return Answer(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        keys = self.keys_for(note.origin)
        if not keys:
            return Answer(HTTPStatus.NOT_FOUND, f"unknown log {note.origin}\n")
        if not protocol.verify_note(note, keys):
            return Answer(HTTPStatus.FORBIDDEN, "no pinned key of this log signed it\n")
        if request.old_size > note.size:
            return Answer(HTTPStatus.BAD_REQUEST, "the old size exceeds the checkpoint size\n")
        with self.state.lock(note.origin):
            latest = self.state.latest(note.origin)
            known = latest.size if latest else 0
            if request.old_size != known:
                return self._conflict(known)
            if latest is not None and note.size == latest.size and note.root != latest.root:
                self.state.keep_evidence(note.origin, "fork: same size, other root", data)
                return self._conflict(known)
            old_root = latest.root if latest else b""
            if not protocol.consistent(known, note.size, request.proof, old_root, note.root):
                self.state.keep_evidence(note.origin, "consistency proof fails", data)
                return Answer(HTTPStatus.UNPROCESSABLE_ENTITY, "the consistency proof fails\n")
            self.state.record(note.origin, Latest(note.size, note.root, request.note_text))
        line = protocol.cosign(self.private, self.name, note.body, int(self.clock()))
        return Answer(HTTPStatus.OK, line)

    @staticmethod
    def _conflict(size: int) -> Answer:
        return Answer(HTTPStatus.CONFLICT, f"{size}\n", "text/x.tlog.size")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the protocol recommends
    disable_nagle_algorithm = True  # answers are small: never hold one back for an ACK
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        if self.server.stopping:  # a kept-alive connection outlives the listener: end it
            self.close_connection = True
            return
        if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
            return self._send(Answer(HTTPStatus.NOT_FOUND, "no such endpoint\n"))
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._send(Answer(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required\n"))
        if length > MAX_BODY:
            self.close_connection = True
            return self._send(Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large\n"))
        if length <= 0:
            return self._send(Answer(HTTPStatus.BAD_REQUEST, "the request has no body\n"))
        answer = self.server.witness.add_checkpoint(self.rfile.read(length))
        self._send(answer)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") in ("", "/vkey"):
            return self._send(Answer(HTTPStatus.OK, self.server.witness.vkey.text() + "\n"))
        self._send(Answer(HTTPStatus.NOT_FOUND, "no such endpoint\n"))

    def _send(self, answer: Answer) -> None:
        body = answer.body.encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        logger.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    witness: Witness
    stopping = False

    def stop(self) -> None:
        """Stop listening, and answer no further request on connections kept alive."""
        self.stopping = True
        self.shutdown()
        self.server_close()


def make_server(witness: Witness, host: str, port: int) -> _Server:
    server = _Server((host, port), _Handler)
    server.witness = witness
    return server


def serve_in_thread(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> _Server:
    """Start the service on a daemon thread; ``server.server_address`` says where."""
    server = make_server(witness, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
