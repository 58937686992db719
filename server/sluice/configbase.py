"""The base every component's config model derives from: frozen, typed, unknown keys fatal."""

from pydantic import BaseModel, ConfigDict


class ComponentConfig(BaseModel):
    """A frozen config model that rejects unknown keys, so a typo names itself at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
