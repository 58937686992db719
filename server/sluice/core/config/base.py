"""What every section's config model shares: frozen, typed, unknown keys fatal, and errors
that name the key."""

from pydantic import BaseModel, ConfigDict, ValidationError


class ComponentConfig(BaseModel):
    """A frozen config model that rejects unknown keys, so a typo names itself at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


def describe(error: ValidationError) -> str:
    """One line per problem, each starting with the dotted key it concerns."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}: {item['msg']}")
    return "\n".join(lines)
