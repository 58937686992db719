"""Runtime: processes and their lifecycle.

``cli`` (the ``sluice`` command), ``worker`` (one serving process), ``supervisor`` (N
workers on one port), ``scheduling`` and ``collector`` (CPU and GC tuning of a worker),
``configdoc`` (the README's configuration reference).
"""
