"""pytest plugin: a real vSphere API server (govmomi's simulator behind the bench's Go wrapper).

Each simulator runs as a child process with a 2048-bit certificate generated at test time, so TLS
verification and thumbprint pinning are exercised for real (the simulator's built-in 1024-bit test
certificate is rejected by a verifying client). Fixtures are module-scoped: a small model starts in
milliseconds, and a fresh one per module keeps state from leaking between test files.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.bench.vcsim.build import vcsim_binary

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class CertFiles:
    cert_pem_path: str
    key_pem_path: str
    der: bytes

    @property
    def thumbprint(self) -> str:
        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def make_certificate(directory: str, name: str = "server") -> CertFiles:
    """Write a fresh self-signed 2048-bit RSA certificate for 127.0.0.1/localhost into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(directory, exist_ok=True)
    stamp = f"{name}-{time.monotonic_ns()}"
    cert_path = os.path.join(directory, f"{stamp}.crt")
    key_path = os.path.join(directory, f"{stamp}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return CertFiles(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))


@dataclass
class Vcsim:
    """One running simulator process and what a test needs to talk to it and inspect it."""

    binary: str
    workdir: str
    args: list[str]
    username: str = "user"
    password: str = "pass"
    cert: CertFiles | None = None
    port: int = 0
    url: str = ""
    datastore_dirs: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def thumbprint(self) -> str:
        assert self.cert is not None
        return self.cert.thumbprint

    @property
    def cert_pem_path(self) -> str:
        assert self.cert is not None
        return self.cert.cert_pem_path

    @property
    def record_path(self) -> str:
        return os.path.join(self.workdir, "requests.jsonl")

    @property
    def guest_config_path(self) -> str:
        return os.path.join(self.workdir, "guest.json")

    @property
    def guest_record_path(self) -> str:
        return os.path.join(self.workdir, "guest.jsonl")

    def guest_script(self, rules: Sequence[Mapping[str, Any]] = (), password: str | None = None) -> None:
        """Tell the scripted guest how to answer (tests/bench/vcsim/guestops.go; re-read per program).

        ``rules``: ``{"when": {"VMR_ACTION": "mount", "vm": NAME, "program": SUBSTR}, "exit": N,
        "output": TEXT, "seconds": S}``, first match wins; ``password``: the only guest password accepted.
        """
        config: dict[str, Any] = {"rules": list(rules)}
        if password is not None:
            config["password"] = password
        tmp = self.guest_config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(config, f)
        os.replace(tmp, self.guest_config_path)

    def guest_record(self) -> list[dict[str, Any]]:
        """Every guest operation so far: ``{"op": start|mktemp|delete|initiate_upload|upload|...}``."""
        if not os.path.exists(self.guest_record_path):
            return []
        with open(self.guest_record_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def start(self) -> None:
        if self.cert is None:
            self.cert = make_certificate(self.workdir)
        cmd = [
            self.binary,
            "-listen", f"127.0.0.1:{self.port}",
            "-cert", self.cert.cert_pem_path,
            "-key", self.cert.key_pem_path,
            "-record", self.record_path,
            "-guest-config", self.guest_config_path,
            "-guest-record", self.guest_record_path,
            *self.args,
        ]  # fmt: skip
        stderr = open(os.path.join(self.workdir, "vcsim.log"), "ab")  # noqa: SIM115 - child keeps it
        try:
            self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)
        finally:
            stderr.close()
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.kill()
            with open(os.path.join(self.workdir, "vcsim.log"), errors="replace") as f:
                raise RuntimeError(f"simulator did not start: {f.read()[-2000:]}")
        info = json.loads(line)
        self.url = info["url"]
        self.port = urlsplit(self.url).port or 0
        self.datastore_dirs = dict(info["datastores"])

    def requests(self) -> list[dict[str, Any]]:
        """Every SOAP request the simulator received so far: ``{"method", "user", "this", "time"}``."""
        if not os.path.exists(self.record_path):
            return []
        with open(self.record_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def methods(self) -> list[str]:
        return [r["method"] for r in self.requests()]

    def stop(self) -> None:
        """SIGINT and wait: the simulator closes its server and removes its datastore directories."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL: the connection drops mid-call, as when a vCenter crashes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def restart(self, new_cert: bool = False) -> None:
        """Start again on the same port with a fresh inventory.

        ``new_cert`` serves another 2048-bit certificate (the "certificate changed" case).
        """
        self.stop()
        if new_cert:
            self.cert = make_certificate(self.workdir, "renewed")
        self.start()

    def _close_pipes(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def _options_to_args(
    *,
    dc: int = 1,
    cluster: int = 1,
    host: int = 2,
    standalone_host: int = 0,
    vm: int = 2,
    ds: int = 1,
    session_idle_timeout: float | None = None,
    delay: Mapping[str, int] | None = None,
    deny: Sequence[str] = (),
    nas: Mapping[str, str] | None = None,
    tools_running: bool = False,
    tools_off: Sequence[str] = (),
    guest_family: Mapping[str, str] | None = None,
    fixed_login: tuple[str, str] | None = None,
    hide: Sequence[str] = (),
    hide_refs: Sequence[str] = (),
    missing: Sequence[str] = (),
    relocate_moves: bool = False,
    question_on_poweron: bool = False,
) -> list[str]:
    args = [
        "-dc", str(dc), "-cluster", str(cluster), "-host", str(host),
        "-standalone-host", str(standalone_host), "-vm", str(vm), "-ds", str(ds),
    ]  # fmt: skip
    if session_idle_timeout:
        args += ["-session-idle-timeout", f"{int(session_idle_timeout * 1000)}ms"]
    for method, ms in (delay or {}).items():
        args += ["-delay", f"{method}={ms}"]
    for rule in deny:
        args += ["-deny", rule]
    for export, local in (nas or {}).items():
        args += ["-nas", f"{export}={local}"]
    if tools_running:
        args.append("-tools-running")
    for name in tools_off:
        args += ["-tools-off", name]
    for name, family in (guest_family or {}).items():
        args += ["-guest-family", f"{name}={family}"]
    if fixed_login:
        args += ["-username", fixed_login[0], "-password", fixed_login[1]]
    for flag, rules in (("-hide", hide), ("-hide-refs", hide_refs), ("-missing", missing)):
        for rule in rules:
            args += [flag, rule]
    if relocate_moves:  # instant.go: RelocateVM_Task moves files and backings as vSphere does
        args.append("-relocate-moves")
    if question_on_poweron:  # instant.go: power-on asks "moved or copied?", AnswerVM answers it
        args.append("-question-on-poweron")
    return args


VcsimFactory = Callable[..., Vcsim]


@pytest.fixture(scope="module")
def vcsim_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VcsimFactory]:
    """Start simulators on demand; every one is stopped at the end of the module.

    Options: ``dc, cluster, host`` (per cluster), ``standalone_host, vm`` (per resource pool), ``ds``,
    ``session_idle_timeout`` (seconds), ``delay={"Method": ms}``, ``deny=["user:Method[:privilege]"]``,
    ``nas={"remoteHost:/export": "/local/dir"}``, ``tools_running``, ``tools_off=[VM name]`` (Tools not
    running on those), ``guest_family={VM name: "linuxGuest"}``, ``fixed_login=(user, password)``,
    ``hide=["user:VmOrHostName"]``, ``hide_refs=[...]`` and ``missing=["VmName:layoutEx"]`` (visibility.go),
    ``relocate_moves`` (RelocateVM_Task moves files and backings as vSphere does) and ``question_on_poweron``
    (power-on asks "moved or copied?", AnswerVM answers; both instant.go).
    """
    binary = vcsim_binary()
    started: list[Vcsim] = []

    def start(**options: Any) -> Vcsim:
        fixed = options.get("fixed_login")
        sim = Vcsim(
            binary=binary,
            workdir=str(tmp_path_factory.mktemp("vcsim")),
            args=_options_to_args(**options),
            username=fixed[0] if fixed else "user",
            password=fixed[1] if fixed else "pass",
        )
        started.append(sim)
        sim.start()
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def vcsim(vcsim_factory: VcsimFactory) -> Vcsim:
    """A small model: one datacenter, a cluster of two hosts and one standalone host, four VMs, one datastore.

    VM names follow govmomi's scheme: ``DC0_C0_RP0_VM0``, ``DC0_C0_RP0_VM1``, ``DC0_H0_VM0``, ``DC0_H0_VM1``.
    """
    return vcsim_factory(standalone_host=1)
