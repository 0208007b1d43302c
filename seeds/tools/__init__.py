"""Operator tools: status, verification, authoring new seed revisions, anonymization.

Each reads or writes a database through the runtime's ledger; none runs inside a
migration.
"""
