"""Pinned server certificates, like govc's ``known_hosts``: one SHA-256 thumbprint per server.

A small JSON file (``{"vc.example:443": "AA:BB:..."}``) that the operator can read and edit. Writes
go to a temporary file and are renamed into place so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading

from vmrestore.vsphere.thumbprint import normalize_thumbprint


class KnownHosts:
    """Server (``host:port``) → pinned SHA-256 thumbprint, persisted in ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def get(self, server: str) -> str | None:
        """The pinned thumbprint of ``server``, or None when it was never pinned."""
        with self._lock:
            return self._load().get(server)

    def pin(self, server: str, thumbprint: str) -> None:
        """Trust ``thumbprint`` for ``server`` from now on (replacing an earlier pin)."""
        normalized = normalize_thumbprint(thumbprint)
        with self._lock:
            entries = self._load()
            entries[server] = normalized
            self._save(entries)

    def entries(self) -> dict[str, str]:
        """Every pinned server and its thumbprint (Settings › vCenter lists them)."""
        with self._lock:
            return dict(sorted(self._load().items()))

    def forget(self, server: str) -> bool:
        """Drop the pin of ``server``; True when there was one."""
        with self._lock:
            entries = self._load()
            if entries.pop(server, None) is None:
                return False
            self._save(entries)
            return True

    def _load(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, entries: dict[str, str]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entries, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
