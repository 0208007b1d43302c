"""Seedchain's benchmark: every way of generating and loading users, in one run.

``scripts/bench`` (``seeds bench``) runs it on scratch databases of the project-local
cluster and writes BENCHMARKS.md and its chart. Figures are side by side and as
ratios, from one run on one machine, and never asserted anywhere: they are for reading.

Modules, one idea each: ``shape`` (the users-shaped table and its rows), ``results``
(a timed figure, extrapolation), ``loading`` (generation and loading strategies, in
process), ``commands`` (the reference app's ``alembic`` in a subprocess: wall time and
peak memory), ``stores`` (PostGIS, row by row), ``databases`` (scratch databases),
``harness`` (the run, section by section), ``machine`` (what it ran on), ``report``
(BENCHMARKS.md) and ``charts`` (the PNG).
"""
