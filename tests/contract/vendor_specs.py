"""The vendors' OpenAPI documents the contract tests validate against.

They live beside this module in ``specs/`` (gzip-compressed; ``specs/README.md`` says where
each comes from and which of its quirks real services contradict), so a fresh clone has
everything its tests need.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent / "specs"


def spec_path(name: str) -> Path:
    """Path of the compressed document ``name`` (for example ``"sentry-api.json"``)."""
    return SPECS_DIR / f"{name}.gz"


def load_spec(name: str) -> dict:
    """The parsed OpenAPI document ``name``; a missing file is an error, not a skip."""
    with gzip.open(spec_path(name), "rt", encoding="utf-8") as stream:
        return json.load(stream)
