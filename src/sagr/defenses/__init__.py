"""One module per training method; each registers its entry with :func:`sagr.registry.register`.

Modules here are imported when the Snakefile is parsed: no torch at module level.
"""
