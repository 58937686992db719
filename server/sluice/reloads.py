"""What SIGHUP reloads in a running process: the bearer tokens, and a listener's TLS files.

Both apply to the calls and connections that follow; those already open keep going. A
config or a certificate that cannot be used is logged and changes nothing.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from sluice.auth import Authenticator, TokenAuth
from sluice.config import ConfigError, Settings
from sluice.tls import TlsConfig, TlsError, read_certificate

log = logging.getLogger(__name__)


def reload_tokens(auth: Authenticator, load: Callable[[], Settings]) -> bool:
    """Give ``auth`` the ``auth.tokens`` of a fresh ``load()``; False (logged) if it cannot.

    Only token authentication reloads, and ``auth.mode`` itself changes only on a restart.
    """
    if not isinstance(auth, TokenAuth):
        return False
    try:
        fresh = load()
    except ConfigError as error:
        log.error("SIGHUP: the config is invalid, tokens unchanged", extra={"error": str(error)})
        return False
    if fresh.auth.mode != "token":
        log.error("SIGHUP: auth.mode changes only on a restart; tokens unchanged")
        return False
    auth.use(fresh.auth.tokens)
    log.info("SIGHUP: auth.tokens reloaded", extra={"tokens": len(fresh.auth.tokens)})
    return True


def reload_tls(context: ssl.SSLContext, tls: TlsConfig, listener: str) -> bool:
    """Load ``tls``'s files into ``context`` for new connections; False (logged) if bad.

    ``listener`` names it in the log ("HTTP ingest", "query API").
    """
    try:
        read_certificate(tls)
        context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_ca_file is not None:
            # Adds the CAs read now; ones removed from the file stay trusted until restart.
            context.load_verify_locations(cafile=tls.client_ca_file)
    except (TlsError, ssl.SSLError, OSError) as error:
        log.error("%s TLS certificate not reloaded; keeping the current one: %s", listener, error)
        return False
    log.info("%s TLS certificate reloaded", listener)
    return True
