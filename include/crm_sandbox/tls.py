"""A local certificate authority (trustme) and a server certificate for 127.0.0.1/localhost.

The CA is kept in the state directory and reused across restarts, so a client configured
once with `<state dir>/ca.pem` keeps working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path  # the CA certificate clients must trust
    cert_chain: Path  # server certificate + chain (PEM)
    private_key: Path  # server private key (PEM)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _load_or_create_ca(directory: Path) -> trustme.CA:
    ca_pem, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    if ca_pem.exists() and ca_key.exists():
        try:
            return trustme.CA.from_pem(ca_pem.read_bytes(), ca_key.read_bytes())
        except ValueError:
            pass  # unreadable: make a new one
    ca = trustme.CA(organization_name="Handoff CRM sandbox")
    _write_private(ca_key, ca.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(ca_pem))
    return ca


def ensure_certificates(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsFiles:
    """Create (or reuse) the CA in `directory` and issue a fresh server certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _load_or_create_ca(directory)
    leaf = ca.issue_cert(*hosts)
    chain, key = directory / "server.pem", directory / "server-key.pem"
    with open(chain, "wb") as handle:
        for blob in leaf.cert_chain_pems:
            handle.write(blob.bytes())
    _write_private(key, leaf.private_key_pem.bytes())
    return TlsFiles(ca_bundle=directory / "ca.pem", cert_chain=chain, private_key=key)
