"""Socket failures under pyVmomi become sentences, never "[Errno 111]" or an exception class name."""

from __future__ import annotations

import errno
import http.client
import socket

import pytest

from vmrestore.errors import Transient
from vmrestore.vsphere.faults import translate


@pytest.mark.parametrize(("exc", "words"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused the connection"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "closed the connection"),
    (http.client.RemoteDisconnected("Remote end closed connection"), "closed the connection"),
    (TimeoutError("timed out"), "did not answer in time"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "could not be found (DNS)"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "cannot be reached from this computer"),
])
def test_socket_errors_in_words(exc: BaseException, words: str) -> None:
    error = translate(exc, server="vc01.corp.example:443")
    assert isinstance(error, Transient)
    assert words in str(error) and "vc01.corp.example:443" in str(error)
    assert "Errno" not in str(error) and type(exc).__name__ not in str(error)
