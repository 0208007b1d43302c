"""The runtime: what runs inside ``alembic upgrade`` and ``alembic downgrade``.

Alembic integration (env), the run's state and its protection, seed revisions and
their context, row validation, load ordering, the ledger and the undo. Imports
``seeds.errors``, ``seeds.data`` and ``seeds.dialects``; never the tools, the
integrations or the development helpers.
"""
