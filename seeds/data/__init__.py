"""The data kit: row factories, geometry, per-row random streams, pseudonyms.

Pure Python over SQLAlchemy types: nothing here opens a connection or knows about
Alembic, so factories and geometry work in any script or test.
"""
