"""How a certificate thumbprint is written: SHA-256, colon-separated uppercase hex (what vCenter shows and
govc pins).

Apart from ``certs`` (which needs ``ssl``) so that the pinned-hosts file (``trust``), read by every command,
does not load ``ssl``: start-up time of the read-only CLI commands (issue 13 §6).
"""

from __future__ import annotations

import hashlib

from vmrestore.errors import InvalidInput


def sha256_thumbprint(der: bytes) -> str:
    """``AA:BB:...`` SHA-256 of a DER certificate."""
    return _with_colons(hashlib.sha256(der).hexdigest())


def normalize_thumbprint(text: str) -> str:
    """Accept a SHA-256 thumbprint with or without colons (or spaces), in any case; return ``AA:BB:...``."""
    hexdigits = "".join(ch for ch in text.strip() if ch not in ": ").lower()
    if len(hexdigits) != 64 or any(ch not in "0123456789abcdef" for ch in hexdigits):
        raise InvalidInput(
            "A certificate thumbprint must be a SHA-256 digest: 64 hex digits, colons optional"
        )
    return _with_colons(hexdigits)


def _with_colons(hexdigits: str) -> str:
    upper = hexdigits.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))
