"""One module per training method; each registers its entry with :func:`sagr.registry.register`.

``common`` is no method: it holds what several methods share (hyper-parameters, the estimator
names, the inner attack's benchmark variants). Modules here are imported when the Snakefile is
parsed: no torch at module level.
"""
