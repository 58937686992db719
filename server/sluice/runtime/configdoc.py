"""Renders the configuration reference (every key, its default and its docstring) as Markdown.

The README's reference section is this output; a test keeps the two equal, and
``python -m sluice.runtime.configdoc`` prints it afresh after a config model changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sluice.core.config.settings import Settings


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "(required)"
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "null"
    if isinstance(value, str | int | float | bool | dict | list):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    return f"`{value}`"


def rows(
    model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None
) -> Iterator[tuple[str, str, str]]:
    """(dotted key, default, description) for every field, nested sections flattened."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if defaults is not None:
            default = getattr(defaults, name)
        else:
            default = field.get_default(call_default_factory=True)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            section = default if isinstance(default, BaseModel) else None
            yield from rows(annotation, key + ".", section)
            continue
        description = " ".join((field.description or "").split())
        yield key, _default(default), description


def reference() -> str:
    """The Markdown table of every configuration key."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, description in rows(Settings):
        escaped = description.replace("|", r"\|")
        lines.append(f"| `{key}` | {default} | {escaped} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
