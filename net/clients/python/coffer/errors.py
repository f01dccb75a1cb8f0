"""The exceptions a Coffer client raises.

    CofferError
    ├── ConnectionError_          could not connect, or lost and not regained
    │   └── ConnectionClosedError the connection closed and retries ran out
    ├── HandshakeError            HELLO refused
    │   ├── AuthFailedError       wrong or missing token (not retried)
    │   └── UnsupportedVersionError  no common protocol version (not retried)
    ├── ServerError               the server answered a request with ERROR
    │   ├── ServerBusyError       `busy` after every retry: NOT applied
    │   ├── RequestRefusedError   the frame was refused (invalid_field, ...)
    │   ├── ServerInternalError   `internal`: not applied
    │   └── BackupFailedError     `backup_failed`
    ├── ProtocolError             the server sent a frame that breaks PROTOCOL.md
    ├── CallTimeoutError          no answer within the call's timeout (also a
    │                             TimeoutError): the request MAY still apply
    ├── QueueFullError            the client's queue is full: not sent
    ├── UnsupportedFeatureError   the negotiated version cannot carry the call
    └── ClientClosedError         the client was closed

`ServerError.code` is the protocol's ErrorCode; `.closing` whether the
server closed the connection after it.
"""

from __future__ import annotations

from .protocol import ErrorCode

__all__ = [
    "CofferError", "ConnectionError_", "ConnectionClosedError", "HandshakeError",
    "AuthFailedError", "UnsupportedVersionError", "ServerError", "ServerBusyError",
    "RequestRefusedError", "ServerInternalError", "BackupFailedError",
    "ProtocolError", "CallTimeoutError", "QueueFullError",
    "UnsupportedFeatureError", "ClientClosedError", "server_error",
]


class CofferError(Exception):
    """Base of every error this package raises."""


class ConnectionError_(CofferError, ConnectionError):
    """Cannot reach the server: connect() failed, or the connection was lost
    and every reconnect attempt failed. Unanswered requests MAY have been
    applied: retry them with the same op ids and issued_ns."""


class ConnectionClosedError(ConnectionError_):
    """The server closed the connection (or reset it) and it could not be
    regained within the retry budget."""


class HandshakeError(CofferError):
    """The server refused HELLO with an ERROR. `code` says why."""

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.code = code


class AuthFailedError(HandshakeError):
    """auth_failed: wrong or missing auth token. Never retried."""


class UnsupportedVersionError(HandshakeError):
    """unsupported_version: no protocol version in common. Never retried."""


class ServerError(CofferError):
    """The server answered a request with an ERROR frame."""

    def __init__(self, message: str, code: ErrorCode, closing: bool) -> None:
        super().__init__(message)
        self.code = code
        self.closing = closing


class ServerBusyError(ServerError):
    """busy after every retry: the request was NOT applied; resend it later
    with the same op ids."""


class RequestRefusedError(ServerError):
    """The server refused the frame itself (invalid_field, bad_length,
    unknown_kind, ...): sending it again would not help."""


class ServerInternalError(ServerError):
    """internal: the engine refused the request; it was not applied."""


class BackupFailedError(ServerError):
    """backup_failed: nothing was published at the path (message: why)."""


class ProtocolError(CofferError):
    """The server sent something that breaks PROTOCOL.md (bad magic, length,
    checksum, an unexpected reply kind). The connection is dropped and
    retried like a lost one; this is raised when that was the last straw."""


class CallTimeoutError(CofferError, TimeoutError):
    """No answer within the call's timeout. The request may still be applied
    (it stays in flight and is resent on reconnect): to learn its outcome,
    retry it with the same op ids and the same issued_ns."""


class QueueFullError(CofferError):
    """The client's queue of calls waiting for a slot is full: not sent."""


class UnsupportedFeatureError(CofferError):
    """The negotiated protocol version cannot carry what the call asks (a
    history filter on version 1)."""


class ClientClosedError(CofferError):
    """The client was closed; calls in flight were cancelled."""


def server_error(code: ErrorCode, message: str, closing: bool) -> ServerError:
    """The ServerError subclass for an ERROR answering a request."""
    text = f"{code.name.lower()}: {message}"
    if code == ErrorCode.BUSY:
        return ServerBusyError(text, code, closing)
    if code == ErrorCode.INTERNAL:
        return ServerInternalError(text, code, closing)
    if code == ErrorCode.BACKUP_FAILED:
        return BackupFailedError(text, code, closing)
    return RequestRefusedError(text, code, closing)
