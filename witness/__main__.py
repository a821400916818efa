"""Run a witness: ``python -m witness keygen|vkey|serve`` (see ``--help``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witness import protocol
from witness.server import Witness, make_server
from witness.state import State, StateError, write_atomically


def load_private(path: str) -> Ed25519PrivateKey:
    try:
        private = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SystemExit(f"the witness key {path} cannot be read: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SystemExit(f"the witness key {path} is not an Ed25519 key")
    return private


def read_log_keys(paths: list[str]) -> list[protocol.VerifierKey]:
    keys = []
    for path in paths:
        try:
            lines = Path(path).read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"the log key file {path} cannot be read: {exc}") from None
        for line in lines:
            if line.strip() and not line.startswith("#"):
                try:
                    keys.append(protocol.parse_vkey(line, protocol.NOTE_SIGNATURE))
                except protocol.ProtocolError as exc:
                    raise SystemExit(f"{path}: {exc}") from None
    if not keys:
        raise SystemExit("give at least one log key (--log-key FILE)")
    return keys


def vkey_of(name: str, private: Ed25519PrivateKey) -> str:
    public = private.public_key().public_bytes_raw()
    return protocol.VerifierKey(name, protocol.COSIGNATURE, public).text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m witness",
        description="A transparency-log witness (C2SP tlog-witness, tlog-cosignature).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="create a witness key; print its verifier key")
    keygen.add_argument("--name", required=True, help="the witness name, e.g. assessor.example/w1")
    keygen.add_argument("--key", required=True, help="where to write the private key (PEM)")
    vkey = commands.add_parser("vkey", help="print the verifier key of a witness key")
    vkey.add_argument("--name", required=True)
    vkey.add_argument("--key", required=True)
    serve = commands.add_parser("serve", help="answer add-checkpoint requests")
    serve.add_argument("--name", required=True, help="the witness name its cosignatures carry")
    serve.add_argument("--key", required=True, help="the witness private key (PEM)")
    serve.add_argument("--state", required=True, help="folder of the witness's durable state")
    serve.add_argument(
        "--log-key",
        action="append",
        required=True,
        help="file of log verifier keys to pin, one a line; the key named N is trusted for "
        "origin N and N/... (repeatable)",
    )
    serve.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT (default %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "keygen":
        if os.path.exists(args.key):
            raise SystemExit(f"{args.key} exists: a witness key is never replaced")
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        Path(args.key).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(args.key), pem)
        print(vkey_of(args.name, private))
        return 0
    if args.command == "vkey":
        print(vkey_of(args.name, load_private(args.key)))
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    host, _, port = args.listen.rpartition(":")
    try:
        state = State(Path(args.state))
    except StateError as exc:
        raise SystemExit(str(exc)) from None
    witness = Witness(args.name, load_private(args.key), read_log_keys(args.log_key), state)
    server = make_server(witness, host or "127.0.0.1", int(port))
    bound_host, bound_port = server.server_address[:2]
    print(
        f"witness {witness.vkey.text()} listening on http://{bound_host}:{bound_port}", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
