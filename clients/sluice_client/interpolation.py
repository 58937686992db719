"""``${VAR}`` and ``${VAR:-default}`` in config and spec files, taken from an environment.

The one rule shared by the server's config file and the connectors' spec files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class InterpolationError(ValueError):
    """A ``${VAR}`` without a default names a variable that is not set."""


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in ``text``; an unset VAR without one fails."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise InterpolationError(f"${{{name}}} is used in the config file but {name} is not set")

    return _REFERENCE.sub(substitute, text)
