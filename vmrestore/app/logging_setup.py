"""A rotating log file per user, with secrets scrubbed before anything is written.

Passwords should never reach a logger in the first place; the filter is the second fence, for
third-party libraries that log request bodies or URLs with credentials.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

_SECRET_PATTERNS = (
    re.compile(r"(<password>)(.*?)(</password>)", re.IGNORECASE | re.DOTALL),
    re.compile(r"((?:password|passwd|pwd)\s*[=:]\s*)(\S+)()", re.IGNORECASE),
)


class RedactSecrets(logging.Filter):
    """Replace anything that looks like a password in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern in _SECRET_PATTERNS:
            redacted = pattern.sub(r"\1***\3", redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***\3", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Scrubs the whole formatted record: a traceback quotes the source line and the exception's message,
    which the message filter never sees."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(log_dir: Path, *, verbose: bool = False, console: bool = False) -> Path:
    """Log to ``<log_dir>/vmrestore.log`` (5 x 2 MB); return the file's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "vmrestore.log"
    root = logging.getLogger()
    if any(getattr(h, "_vmrestore", False) for h in root.handlers):
        return path
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    handler.addFilter(RedactSecrets())
    handler._vmrestore = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
        stream.addFilter(RedactSecrets())
        stream.setLevel(logging.DEBUG if verbose else logging.WARNING)
        stream._vmrestore = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path
