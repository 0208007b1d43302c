"""The reference application's seed data, used by its seed revisions."""
