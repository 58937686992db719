"""The configuration: one frozen, typed model per section of the YAML file.

``settings`` assembles the sections into ``Settings`` and loads them from a file and the
environment; ``base`` holds what every section shares. Each other module is one section.
"""
