"""The benchmarks under bench/ are run by hand, not by the suite: this keeps them importable,
so a name moved in the product breaks here, not in the next person's measurement."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench_on_path():
    sys.path.insert(0, str(BENCH))
    try:
        yield
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("module", sorted(p.stem for p in BENCH.glob("*.py")))
def test_every_benchmark_module_imports(bench_on_path, module):
    importlib.import_module(module)


def test_the_naive_baseline_engine_builds_from_the_products_names(bench_on_path):
    """Built lazily in the measured process, so importing sync_runs alone would not show it."""
    from bridge.sync.engine import SyncEngine

    engine_class = importlib.import_module("sync_runs").naive_engine_class()
    assert issubclass(engine_class, SyncEngine) and engine_class is not SyncEngine
