"""The C extension of the checks' hot path (everything else is in pyproject.toml).

``sluice.process._wire`` walks, screens and re-assembles a ReadingBatch's wire bytes; see
server/sluice/process/_wire.c and its siblings. Declared here because setuptools'
``ext-modules`` table in pyproject.toml is still experimental.
"""

from setuptools import Extension, setup

SOURCES = ("_wire", "_wire_batch", "_wire_templates")

setup(
    ext_modules=[
        Extension(
            "sluice.process._wire",
            sources=[f"server/sluice/process/{name}.c" for name in SOURCES],
            depends=["server/sluice/process/_wire.h"],
            # No fused multiply-add: a converted value must be bit-identical to Python's.
            extra_compile_args=["-O2", "-ffp-contract=off", "-fvisibility=hidden"],
        )
    ]
)
