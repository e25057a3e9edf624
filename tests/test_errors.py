"""Every kind of bad input gets `file:line:col: error:`, the line, a caret and, where there
is an obvious fix, a hint — never a traceback.  One golden file per case in data/errors."""

from __future__ import annotations

import pytest

from conftest import DATA, assert_golden

CASES = sorted((DATA / "errors").glob("*.arch"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_message(case, run_cli, monkeypatch):
    monkeypatch.chdir(case.parent)  # so messages show the bare file name
    code, out, err = run_cli("check", case.name)
    assert code == 2
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert ": error: " in first and first.split(":")[1].isdigit()  # file:line:col
    assert "^" in err
    assert_golden(err, case.with_suffix(".err"))


def test_every_case_has_a_golden_file():
    missing = [c.name for c in CASES if not c.with_suffix(".err").exists()]
    assert not missing
