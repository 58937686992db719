"""The embedded default for development: ``sluice dev`` (``run``).

A local Tansu broker (``broker``; install ``sluice[embedded]``), the server, the roll-up and
query API on a temporary SQLite file (``rollup``), and a simulated fleet. Production
commands never import this package.
"""
