"""Use case: "Test connection" for a shared catalog (Settings › Catalog and ``vmrestore catalog test URL``).

Any role may test: it only connects, reads the server version and the catalog's schema number, and changes
nothing. The connection runs off the caller's thread (``check_async`` in the loop's executor for the GUI;
the CLI has no event loop to keep responsive and calls ``check``). The answer is in plain words; the URL's
password is never part of it.
"""

from __future__ import annotations

from vmrestore.app.catalog_secret import stored_password
from vmrestore.app.secrets import SecretStore
from vmrestore.catalog import display_url, is_server_url
from vmrestore.catalog.pg_probe import ProbeResult, probe


class TestCatalogConnection:
    """Try a ``postgresql://`` URL once, without creating or migrating anything."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, secrets: SecretStore | None = None) -> None:
        self._secrets = secrets  # a URL without a password is tried with the keyring's

    def check(self, url: str, password: str | None = None) -> ProbeResult:
        """Blocking: one connection attempt (at most ~10 s per address)."""
        if not is_server_url(url):
            return ProbeResult(False, "", None, False,
                               f"Not a shared catalog URL: {display_url(url)!r} (expected postgresql://…)")
        return probe(url, password or stored_password(url, self._secrets))

    async def check_async(self, url: str, password: str | None = None) -> ProbeResult:
        """The same, on an executor thread: the GUI's loop keeps running while the server answers."""
        import asyncio  # here: the CLI builds this use case for every command and never awaits it (issue 13 §6)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.check, url, password)
