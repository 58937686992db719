"""The C extension of the checks' hot path (everything else is in pyproject.toml).

``sluice.core._wire`` walks, screens and re-assembles a ReadingBatch's wire bytes; see
server/sluice/core/_wire.c and its siblings. Declared here because setuptools'
``ext-modules`` table in pyproject.toml is still experimental.
"""

from setuptools import Extension, setup

SOURCES = ("_wire", "_wire_batch", "_wire_templates")

setup(
    ext_modules=[
        Extension(
            "sluice.core._wire",
            sources=[f"server/sluice/core/{name}.c" for name in SOURCES],
            depends=["server/sluice/core/_wire.h"],
            # No fused multiply-add: a converted value must be bit-identical to Python's.
            extra_compile_args=["-O2", "-ffp-contract=off", "-fvisibility=hidden"],
        )
    ]
)
