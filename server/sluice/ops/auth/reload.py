"""SIGHUP's reload of the bearer tokens (a listener's TLS files reload through
``sluice.ops.tls``).

The new tokens apply to the calls that follow; those already open keep going. A config that
cannot be used is logged and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import Settings
from sluice.ops.auth.authenticators import Authenticator, TokenAuth

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
