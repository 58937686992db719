"""``python -m sluice``: the same as the ``sluice`` command."""

from sluice.runtime.cli import main

raise SystemExit(main())
