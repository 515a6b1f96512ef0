"""The vCenter connection as the operator sees it: connect, trust a certificate, disconnect.

One ``ConnectionService`` per app; the GUI's connect dialog and ``vmrestore connect`` both call it.
The blocking pyVmomi login runs in an executor thread, so the Qt thread only awaits. An unknown
self-signed certificate is *not* trusted silently: ``connect`` raises ``CertificateUntrusted`` with
the SHA-256 thumbprint, the front end asks a person, and ``trust()`` pins it (per server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vmrestore.app.secrets import KeyringUnavailable, SecretStore
from vmrestore.errors import AuthFailed, InvalidInput, Transient, VmrestoreError
from vmrestore.model import ServerIdentity, ServerKey
from vmrestore.vsphere.trust import KnownHosts

if TYPE_CHECKING:  # pyVmomi is imported on the first login: commands that never log in start sooner
    import asyncio

    from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)


def _running_loop() -> asyncio.AbstractEventLoop:
    """The running event loop. asyncio is imported here, not at the top: every command builds this
    service, most never await it, and asyncio is a large part of a CLI command's start-up (issue 13 §6)."""
    import asyncio

    return asyncio.get_running_loop()

Listener = Callable[[ServerIdentity | None], None]


class NotConnected(VmrestoreError):
    code = "not_connected"

    def __init__(self) -> None:
        super().__init__("Not connected to a vCenter: connect first (vmrestore connect, or File > Connect)")


def normalize_url(url: str) -> str:
    """Accept ``vc.example``, ``https://vc.example`` or ``https://vc.example/sdk``; return the SDK URL."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    path = parts.path if parts.path not in ("", "/") else "/sdk"
    return f"{parts.scheme}://{parts.netloc}{path}"


def server_key(url: str) -> str:
    """The one name of a server for the keyring and known_hosts (``ServerKey``): ``host:port``."""
    try:
        return str(ServerKey.parse(url))
    except ValueError as exc:
        raise InvalidInput(f"The vCenter URL must look like https://vcenter.example/sdk, not {url!r}") from exc


def _close_quietly(session: VsphereSession) -> None:
    try:
        session.close()
    except Exception:  # the server is gone; the session is abandoned either way
        log.debug("Closing a lost session failed", exc_info=True)


#: How long a session may sit idle before a cheap call keeps it alive: well under vCenter's default
#: 30-minute idle timeout, and rare enough to cost nothing.
KEEPALIVE_SECONDS = 300.0


class ConnectionService:
    def __init__(self, known_hosts: KnownHosts, secrets: SecretStore,
                 keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self._known_hosts = known_hosts
        self._secrets = secrets
        self._keepalive_seconds = keepalive_seconds
        self._session: VsphereSession | None = None
        self._listeners: list[Listener] = []
        self.warnings: list[str] = []
        self.lost: str | None = None  # why the session ended without a disconnect (plain words), else None

    # -- state -----------------------------------------------------------------------------------
    @property
    def identity(self) -> ServerIdentity | None:
        return self._session.identity if self._session is not None else None

    @property
    def session(self) -> VsphereSession:
        """The live session for adapters; raises ``NotConnected`` before a login."""
        if self._session is None:
            raise NotConnected()
        return self._session

    @property
    def connected(self) -> bool:
        return self._session is not None

    def add_listener(self, cb: Listener) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb(self.identity)

    # -- actions ---------------------------------------------------------------------------------
    def saved_password_available(self, url: str, username: str) -> bool:
        return self._secrets.get(server_key(url), username) is not None

    def open_blocking(
        self,
        url: str,
        username: str,
        password: str | None,
        *,
        thumbprint: str | None = None,
        insecure: bool = False,
        save_password: bool = False,
    ) -> ServerIdentity:
        """Log in (blocking). Used from an executor by ``connect`` and directly by the CLI."""
        sdk_url = normalize_url(url)
        key = server_key(sdk_url)
        if not password:
            password = self._secrets.get(key, username)
        if not password:
            raise AuthFailed(f"No password given for {username} on {key}, and none is saved")
        from vmrestore.vsphere.session import ConnectSpec, VsphereSession

        spec = ConnectSpec(url=sdk_url, username=username, password=password, thumbprint=thumbprint,
                           insecure=insecure)
        session = VsphereSession.open(spec, self._known_hosts)
        session.start_keepalive(self._keepalive_seconds)
        self.warnings = []
        if save_password:
            try:
                self._secrets.set(key, username, password)
            except KeyringUnavailable as exc:
                self.warnings.append(str(exc))
                log.warning("%s", exc)
        old, self._session = self._session, session
        self.lost = None
        if old is not None:
            old.close()
        return session.identity

    async def connect(
        self,
        url: str,
        username: str,
        password: str | None,
        *,
        thumbprint: str | None = None,
        insecure: bool = False,
        save_password: bool = False,
    ) -> ServerIdentity:
        loop = _running_loop()
        identity = await loop.run_in_executor(
            None,
            lambda: self.open_blocking(url, username, password, thumbprint=thumbprint, insecure=insecure,
                                       save_password=save_password),
        )
        self._notify()
        return identity

    def trust_blocking(self, server: str, thumbprint: str) -> None:
        self._known_hosts.pin(server_key(server), thumbprint)

    async def trust(self, server: str, thumbprint: str) -> None:
        """Pin ``thumbprint`` for ``server`` after a person confirmed it."""
        loop = _running_loop()
        await loop.run_in_executor(None, self.trust_blocking, server, thumbprint)

    def pinned_certificates(self) -> dict[str, str]:
        """Server → pinned SHA-256 thumbprint (blocking: reads known_hosts.json)."""
        return self._known_hosts.entries()

    def forget_certificate(self, server: str) -> bool:
        """Drop a pin: the next connection to ``server`` asks again (blocking)."""
        return self._known_hosts.forget(server)

    async def check_alive(self) -> bool:
        """A cheap call on the session (keeps it from idling out); a dead connection is noticed here.

        When vCenter cannot be reached any more, the session is dropped, ``lost`` says why in plain words
        and listeners hear ``None``, so the window shows it and disables what needs vCenter.
        """
        session = self._session
        if session is None:
            return False
        loop = _running_loop()
        try:
            await loop.run_in_executor(None, session.keepalive)
        except (Transient, AuthFailed) as exc:
            if self._session is not session:
                return False
            log.warning("Lost the connection to %s: %s", session.server, exc)
            self._session = None
            self.lost = f"Connection lost. {exc}"
            await loop.run_in_executor(None, _close_quietly, session)
            self._notify()
            return False
        return True

    def close_blocking(self) -> None:
        self.lost = None
        session, self._session = self._session, None
        if session is not None:
            session.close()

    async def disconnect(self) -> None:
        loop = _running_loop()
        await loop.run_in_executor(None, self.close_blocking)
        self._notify()
