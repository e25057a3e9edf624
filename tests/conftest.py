"""Shared test helpers: running the CLI in-process, golden files, and the GPU switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# `pytest tests/test_fuzz.py --hypothesis-profile=fuzz`: the fuzzers run 50 times as many
# cases as in CI (about 300,000; an hour or two).  Tests that fix their own number of
# examples are unaffected.
settings.register_profile("fuzz", max_examples=5000)

# Without a GPU, Triton kernels run in Triton's CPU interpreter — which must be chosen
# before triton is first imported (it decides when a kernel is defined).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from archc import cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SPECS = ROOT / "specs"

# ARCHC_UPDATE_GOLDEN=1 rewrites expected files on purpose; review the diff before committing.
UPDATE_GOLDEN = os.environ.get("ARCHC_UPDATE_GOLDEN") == "1"


def assert_golden(actual: str, expected_path: Path):
    if UPDATE_GOLDEN or not expected_path.exists():
        if not UPDATE_GOLDEN:
            pytest.fail(f"{expected_path} is missing; run with ARCHC_UPDATE_GOLDEN=1 to create it")
        expected_path.write_text(actual, encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8")


@pytest.fixture
def run_cli(capsys):
    """Run `archc ARGS...` in-process; returns (exit code, stdout, stderr)."""
    def run(*args: str):
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: where there is none, say so rather than fail."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run `pytest -m gpu` on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
