"""Alembic environment and revisions of the state store (a package so they ship installed)."""
