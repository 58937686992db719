"""Rewrites the configuration reference in README.md from the config models."""

import re
from pathlib import Path

from sluice.runtime.configdoc import reference

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"

text = README.read_text(encoding="utf-8")
updated = re.sub(
    re.escape(START) + ".*?" + re.escape(END), lambda _: START + reference() + END, text, flags=re.S
)
README.write_text(updated, encoding="utf-8")
