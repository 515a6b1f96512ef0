"""What every CLI command gets: the app services, its arguments, and a vCenter login on demand."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass

from vmrestore.app.bootstrap import AppServices
from vmrestore.cli.output import note
from vmrestore.errors import CertificateUntrusted, InvalidInput
from vmrestore.model import ServerIdentity


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class CliContext:
    services: AppServices
    args: argparse.Namespace
    exit_code: int = 0  # a command that printed its result but must still report failure (audit verify)

    def sweep_quietly(self) -> None:
        """Every start undoes what a crashed run left behind (local entries only without a login)."""
        found = self.services.sweeper().find()
        if found:
            note(f"vmrestore: {len(found)} object(s) left behind by a crashed run; "
                 "run 'vmrestore sweep' (with a vCenter login) to remove them")

    def connect(self, *, save: bool = False) -> ServerIdentity:
        """Log in from options/env/keyring, with a trust prompt only for a person at a terminal."""
        a = self.args
        url = a.url or os.environ.get("VMRESTORE_URL")
        user = a.username or os.environ.get("VMRESTORE_USERNAME")
        if not url or not user:
            raise InvalidInput("Give the vCenter with --url/--username or VMRESTORE_URL/VMRESTORE_USERNAME")
        password = os.environ.get("VMRESTORE_PASSWORD")
        thumbprint = a.thumbprint or os.environ.get("VMRESTORE_THUMBPRINT") or None
        insecure = bool(a.insecure) or _env_flag("VMRESTORE_INSECURE")
        conn = self.services.connection
        if not password and not conn.saved_password_available(url, user) and sys.stdin.isatty():
            password = getpass.getpass(f"Password for {user}: ")
        try:
            identity = conn.open_blocking(url, user, password, thumbprint=thumbprint, insecure=insecure,
                                          save_password=save)
        except CertificateUntrusted as exc:
            if not (sys.stdin.isatty() and sys.stderr.isatty()):
                raise
            note(f"The certificate of {exc.server} is not trusted.\nSHA-256 thumbprint: {exc.thumbprint}")
            answer = input("Trust this certificate and pin it for this server? [y/N] ").strip().lower()
            if answer not in {"y", "yes"}:
                raise
            conn.trust_blocking(exc.server, exc.thumbprint)
            identity = conn.open_blocking(url, user, password, save_password=save)
        for warning in conn.warnings:
            note(f"vmrestore: {warning}")
        return identity
