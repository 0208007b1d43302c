"""Development helpers: the project-local PostgreSQL + PostGIS cluster and the benchmark.

Never imported by the runtime except to start an installed local cluster on demand.
"""
