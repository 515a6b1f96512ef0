"""Turning errors into words for dialogs, inline labels and the jobs pane.

Adapters raise ``vmrestore.errors`` types; this module is the one place that decides how each reads to an
operator: a short title and one or two sentences saying what happened and what to do next. It never matches
message text: it looks at the type and the fields the error carries.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from vmrestore import errors


@dataclass(frozen=True, slots=True)
class ErrorText:
    title: str
    text: str
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning


def describe(error: BaseException) -> ErrorText:
    """A title and text for ``error``, most specific type first."""
    crit = QMessageBox.Icon.Critical
    cause = error.__cause__
    if type(error) is errors.VmrestoreError and isinstance(cause, OSError):
        return os_error_text(cause)  # a job's unexpected OSError (missing or unwritable target, share gone)
    match error:
        case errors.PermissionDenied(privilege=privilege, obj=obj):
            where = f" on {obj}" if obj else ""
            what = f"the privilege “{privilege}”{where}" if privilege else f"a privilege{where}"
            return ErrorText(
                "Permission denied by vCenter",
                f"Your vCenter account lacks {what}. Ask your vCenter administrator to grant it, then try again.",
            )
        case errors.RoleDenied(role=role, action=action):
            return ErrorText(
                "Not allowed for your role",
                f"The {role} role may not {_words(action)}. Ask a vmrestore admin to do it or to change your role.",
            )
        case errors.CertificateChanged(server=server, pinned=pinned, presented=presented):
            return ErrorText(
                "Server certificate CHANGED",
                f"{server} presents a different certificate than the one pinned earlier.\n"
                f"Pinned:    {pinned}\nPresented: {presented}\n"
                "Someone may be intercepting the connection. The connection was refused. "
                "Ask your vCenter administrator whether the certificate was replaced.",
                crit,
            )
        case errors.CertificateUntrusted(server=server, thumbprint=thumbprint):
            return ErrorText(
                "Certificate not trusted",
                f"The certificate of {server} is not trusted by this computer.\nSHA-256: {thumbprint}",
            )
        case errors.AuthFailed():
            return ErrorText("Sign-in failed", str(error) or "The user name or password was not accepted.")
        case errors.Transient():
            return ErrorText(
                "Connection problem",
                f"{error or 'The server could not be reached.'} Check the network and try again.",
            )
        case errors.InsufficientSpace():
            return ErrorText("Not enough space", str(error) or "The target has too little free space.")
        case errors.NotFound():
            return ErrorText("Not found", str(error) or "The object no longer exists.")
        case errors.TaskFailed():
            return ErrorText("vSphere task failed", str(error) or "The vSphere task ended in an error.")
        case errors.Cancelled():
            return ErrorText("Cancelled", str(error) or "The operation was cancelled.", QMessageBox.Icon.Information)
        case errors.CorruptImage():
            return ErrorText("Disk image unreadable", str(error) or "The disk image could not be read.")
        case errors.InvalidInput():
            return ErrorText("Invalid input", str(error) or "The request was not valid.")
        case errors.Refused():
            return ErrorText("Refused", str(error) or "The operation was refused.")
        case errors.VmrestoreError():
            return ErrorText("Operation failed", str(error) or type(error).__name__)
    if isinstance(error, OSError):
        return os_error_text(error)
    # Not one of ours: a bug or an unmapped library error. Say so plainly; details are in the log file.
    return ErrorText(
        "Unexpected error",
        f"{type(error).__name__}: {error}\nThis is probably a bug; details are in the log file.",
        crit,
    )


def os_error_text(error: OSError) -> ErrorText:
    """A file-system or network error in words (missing, not allowed, full, share gone), not a traceback."""
    code = error.errno
    if not error.filename and code is None:  # raised with a message of its own: that message is the words
        title = "Not allowed" if isinstance(error, PermissionError) else "Could not read or write"
        return ErrorText(title, str(error) or type(error).__name__)
    where = error.filename if error.filename else "the destination"
    if isinstance(error, FileNotFoundError):
        return ErrorText("Folder or file not found",
                         f"{where} does not exist (any more). If it is on a network share, check that the share "
                         "is still reachable, then try again.")
    if isinstance(error, PermissionError) or code == errno.EACCES:
        return ErrorText("Not allowed", f"This Windows account may not write to {where}. Choose another folder, "
                                        "or ask for write access to it.")
    if code == errno.ENOSPC:
        return ErrorText("Disk full", f"There is not enough free space for {where}. Free some space or choose "
                                      "another folder.")
    if code == errno.EROFS:
        return ErrorText("Read-only", f"{where} is on a read-only drive. Choose another folder.")
    if isinstance(error, NotADirectoryError):
        return ErrorText("Not a folder", f"{where}: a part of this path is a file, not a folder. Choose a folder.")
    if isinstance(error, (ConnectionError, TimeoutError)) or code in (errno.EHOSTDOWN, errno.ENETUNREACH,
                                                                      errno.EHOSTUNREACH, errno.ESTALE):
        return ErrorText("Network share unavailable",
                         f"The network connection to {where} was lost. Check the network and the share, then try "
                         "again.")
    reason = error.strerror or type(error).__name__
    return ErrorText("Could not read or write", f"{reason}: {where}.")


def _words(action: str) -> str:
    return str(action).replace("_", " ")


def show_error(parent: QWidget | None, error: BaseException, *, context: str | None = None) -> QMessageBox:
    """Show ``error`` in a window-modal message box (non-blocking; returns the box)."""
    described = describe(error)
    box = QMessageBox(described.icon, described.title, described.text, QMessageBox.StandardButton.Ok, parent)
    if context:
        box.setInformativeText(context)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAccessibleName(described.title)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
