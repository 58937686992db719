"""The errors the client SDK raises.

::

    SluiceClientError
    ├── ConnectError      the server could not be reached within connect_timeout
    ├── CallFailed        the server ended a call with a final gRPC status
    ├── AckTimeout        flush() or close() ran out of time with batches unacknowledged
    └── ClientClosed      the client was used after close()
"""

from pathlib import Path

import grpc


class SluiceClientError(Exception):
    """Base of every error the SDK raises."""


class ConnectError(SluiceClientError):
    """The server could not be reached within the connect timeout."""

    def __init__(self, target: str, timeout_s: float) -> None:
        super().__init__(f"cannot reach {target} within {timeout_s:g}s")
        self.target = target
        self.timeout_s = timeout_s


class CallFailed(SluiceClientError):
    """The server ended a call with a status that retrying cannot fix (e.g. UNAUTHENTICATED)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class AckTimeout(SluiceClientError):
    """flush() or close() timed out while batches were still unacknowledged."""

    def __init__(self, unacknowledged: int, timeout_s: float) -> None:
        super().__init__(f"{unacknowledged} batch(es) unacknowledged after {timeout_s:g}s")
        self.unacknowledged = unacknowledged
        self.timeout_s = timeout_s


class ClientClosed(SluiceClientError):
    """The client was used after close(), or before start()."""


class CertificateUnreadable(SluiceClientError):
    """A TLS certificate or key file of ``TlsOptions`` cannot be read."""

    def __init__(self, what: str, path: Path, error: OSError) -> None:
        super().__init__(f"cannot read the {what} {path}: {error.strerror or error}")
        self.path = path
