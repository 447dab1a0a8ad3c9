"""Alembic revisions of the state store, oldest first by their ``down_revision`` chain.

A new revision also moves ``bridge.store.db.HEAD_REVISION`` (opening a store compares
with it without loading Alembic; a test fails until the two agree)."""
