"""A logged-in vCenter session: trust decided before the password is sent, and kept alive after.

Trust (shared/CLI.md): an explicit thumbprint must match; otherwise a certificate the system trust
store accepts connects verified; otherwise the thumbprint pinned earlier must match; an unknown
certificate is pinned only if a person confirms it. ``insecure`` skips all of that and says so in the
log. The password is only ever handed to ``SessionManager.Login``; it is not in any repr, log line or
exception.

All methods block: the engine runs them in executor threads, and several threads may share one
session (pyVmomi's stub keeps a connection pool and is thread-safe; re-login is serialised here).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pyVim import connect as _connect
from pyVmomi import vim

from vmrestore.errors import (
    CertificateChanged,
    CertificateUntrusted,
    InvalidInput,
    Transient,
    VmrestoreError,
)
from vmrestore.model import ServerIdentity, ServerKey
from vmrestore.vsphere import certs
from vmrestore.vsphere.faults import CONNECTION_ERRORS, translate
from vmrestore.vsphere.trust import KnownHosts

log = logging.getLogger(__name__)

# pyVmomi's stubs leave these untyped; they are Any at our boundary.
_SmartStubAdapter: Any = _connect.SmartStubAdapter
_ServiceInstance: Any = vim.ServiceInstance

T = TypeVar("T")

# Idle pooled connections older than this are closed by pyVmomi before reuse; vCenter's own idle
# timeout for HTTP keep-alive is longer, so a pooled connection is rarely dead when taken.
_POOL_IDLE_SECONDS = 60


@dataclass(frozen=True)
class ConnectSpec:
    """Where and as whom to connect. ``password`` is excluded from ``repr`` so it never reaches a log."""

    url: str
    username: str
    password: str = field(repr=False)
    thumbprint: str | None = None
    insecure: bool = False
    timeout: float = 30.0


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    path: str

    @property
    def server(self) -> str:
        """The key the trust store (and the keyring) uses: ``host:port``, as govc's known_hosts does."""
        return str(ServerKey(self.host.lower(), self.port))


def _parse_url(url: str) -> _Endpoint:
    url = url.strip()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(f"The vCenter URL must look like https://vcenter.example/sdk, not {url!r}")
    return _Endpoint(parts.hostname, parts.port or 443, parts.path.rstrip("/") or "/sdk")


class VsphereSession:
    """One authenticated vCenter session. Build it with :meth:`open`; always :meth:`close` it."""

    def __init__(
        self,
        spec: ConnectSpec,
        endpoint: _Endpoint,
        context: ssl.SSLContext,
        thumbprint: str,
        certificate_state: str,
    ) -> None:
        self._spec = spec
        self._endpoint = endpoint
        self._context = context
        self._thumbprint = thumbprint
        self._certificate_state = certificate_state
        self._lock = threading.Lock()
        self._generation = 0  # bumped on every login; lets racing threads re-login only once
        self._stub: Any = None
        self._content: Any = None
        self._user = spec.username
        self._last_used = time.monotonic()
        self._keepalive_stop: threading.Event | None = None
        self._keepalive_thread: threading.Thread | None = None

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        spec: ConnectSpec,
        known_hosts: KnownHosts,
        confirm: Callable[[str, str], bool] | None = None,
    ) -> VsphereSession:
        """Decide trust, then log in.

        Raises ``CertificateChanged`` (thumbprint given or pinned, but another one presented),
        ``CertificateUntrusted`` (unknown certificate and nobody confirmed it), ``AuthFailed``,
        ``Transient`` (unreachable).
        """
        endpoint = _parse_url(spec.url)
        server = endpoint.server
        presented = certs.sha256_thumbprint(
            certs.fetch_der_certificate(endpoint.host, endpoint.port, spec.timeout)
        )
        context: ssl.SSLContext
        if spec.insecure:
            log.warning("Connecting to %s WITHOUT certificate verification (insecure was requested)", server)
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            state = "insecure"
        elif spec.thumbprint:
            expected = certs.normalize_thumbprint(spec.thumbprint)
            if expected != presented:
                raise CertificateChanged(server, expected, presented)
            context, state = certs.pinned_context(expected), "pinned"
        elif certs.system_trusts(endpoint.host, endpoint.port, spec.timeout):
            context, state = ssl.create_default_context(), "system-trusted"
        else:
            pinned = known_hosts.get(server)
            if pinned is not None and pinned != presented:
                raise CertificateChanged(server, pinned, presented)
            if pinned is None:
                if confirm is None or not confirm(server, presented):
                    raise CertificateUntrusted(server, presented)
                known_hosts.pin(server, presented)
                log.info("Pinned the certificate of %s: %s", server, presented)
            context, state = certs.pinned_context(presented), "pinned"

        session = cls(spec, endpoint, context, presented, state)
        session._connect()
        return session

    def _connect(self) -> None:
        """Create the SOAP stub and log in (first time only; re-login reuses the stub)."""
        try:
            self._stub = _SmartStubAdapter(
                host=self._endpoint.host,
                port=self._endpoint.port,
                path=self._endpoint.path,
                sslContext=self._context,
                httpConnectionTimeout=self._spec.timeout,
                connectionPoolTimeout=_POOL_IDLE_SECONDS,
            )
            instance = _ServiceInstance("ServiceInstance", self._stub)
            self._content = instance.RetrieveContent()
            self._login()
        except VmrestoreError:
            raise
        except Exception as exc:
            raise translate(exc, server=self.server) from exc

    def _login(self) -> None:
        """Log in on the existing stub; the caller holds the lock or owns the session exclusively."""
        try:
            user_session = self._content.sessionManager.Login(self._spec.username, self._spec.password, None)
        except Exception as exc:
            # translate() builds the message from the fault's type and server text, never from the
            # request, so the password cannot leak into str(error).
            raise translate(exc, server=self.server) from exc
        self._user = str(getattr(user_session, "userName", None) or self._spec.username)
        self._generation += 1

    # -- what callers see --------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return self._endpoint.server

    @property
    def endpoint_host_port(self) -> tuple[str, int]:
        """The vCenter's host and port, for URLs whose host is ``*`` ("the server you called")."""
        return self._endpoint.host, self._endpoint.port

    @property
    def tls_context(self) -> ssl.SSLContext:
        """The TLS context this session trusts the vCenter with (pinned or system), for its other URLs."""
        return self._context

    @property
    def identity(self) -> ServerIdentity:
        about = self._content.about
        return ServerIdentity(
            server=self.server,
            user=self._user,
            thumbprint=self._thumbprint,
            api_version=str(about.apiVersion),
            certificate_state=self._certificate_state,
        )

    @property
    def content(self) -> Any:
        """The ``vim.ServiceContent`` (for the other adapter modules only; it never leaves vsphere/)."""
        return self._content

    def call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` - one unit of pyVmomi work - and translate its failures.

        An expired or terminated session (``NotAuthenticated``: the server did nothing) logs in again
        and runs ``fn`` once more. A dropped connection retries with a fresh login only when
        ``idempotent``: the request may have reached the server, and repeating e.g. a PowerOn would
        not be safe. Errors leave as vmrestore errors with the original as ``__cause__``.
        """
        for attempt in (1, 2):
            generation = self._generation
            self._last_used = time.monotonic()
            try:
                return fn(*args, **kwargs)
            except VmrestoreError:
                raise
            except vim.fault.NotAuthenticated as exc:
                if attempt == 2:
                    raise translate(exc, server=self.server) from exc
                log.info("vCenter session on %s expired; logging in again", self.server)
                self._relogin(generation)
            except CONNECTION_ERRORS as exc:
                self._stub.DropConnections()
                if attempt == 2 or not idempotent or isinstance(exc, certs.CertificatePinMismatch):
                    raise translate(exc, server=self.server) from exc
                log.info("Connection to %s dropped (%s); retrying once", self.server, type(exc).__name__)
                self._relogin(generation)
            except Exception as exc:
                raise translate(exc, server=self.server) from exc
        raise AssertionError("unreachable")

    def _relogin(self, generation: int) -> None:
        """Log in again unless another thread already did since ``generation``."""
        with self._lock:
            if self._generation != generation:
                return
            try:
                self._login()
            except Transient:
                self._stub.DropConnections()
                raise

    def keepalive(self) -> None:
        """A cheap authenticated call so vCenter's idle timeout does not end the session."""
        self.call(self._current_time)

    def _current_time(self) -> Any:
        return _ServiceInstance("ServiceInstance", self._stub).CurrentTime()

    def start_keepalive(self, interval: float) -> None:
        """Call :meth:`keepalive` whenever the session has been idle for ``interval`` seconds, until close.

        vCenter ends a session after its idle timeout (30 min by default); the operator who left the
        window open over lunch would otherwise meet a re-login at the next click, or a failed step in
        the middle of a long job that only waits. A daemon thread, because the CLI has no event loop
        and the call blocks; a failed keepalive is only logged (the next real call logs in again).
        """
        if interval <= 0 or self._keepalive_thread is not None:
            return
        stop = threading.Event()

        def loop() -> None:
            wait = interval
            while not stop.wait(wait):
                idle = time.monotonic() - self._last_used
                if idle < interval:
                    wait = interval - idle
                    continue
                try:
                    self.keepalive()
                except VmrestoreError as exc:
                    log.info("keepalive to %s failed: %s", self.server, exc)
                except Exception as exc:  # the stub may be closing under us; never kill the thread noisily
                    log.debug("keepalive to %s stopped: %s", self.server, type(exc).__name__)
                    return
                wait = interval

        self._keepalive_stop = stop
        self._keepalive_thread = threading.Thread(target=loop, name=f"keepalive {self.server}", daemon=True)
        self._keepalive_thread.start()

    def _stop_keepalive(self) -> None:
        if self._keepalive_stop is not None:
            self._keepalive_stop.set()
        thread, self._keepalive_thread = self._keepalive_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def close(self) -> None:
        """Log out (best effort: the server may be gone) and close pooled connections."""
        self._stop_keepalive()
        if self._stub is None:
            return
        try:
            self._content.sessionManager.Logout()
        except Exception as exc:  # the session is being abandoned either way
            log.debug("Logout from %s failed: %s", self.server, type(exc).__name__)
        finally:
            self._stub.DropConnections()
            self._stub = None

    def __enter__(self) -> VsphereSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
