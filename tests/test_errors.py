"""The error catalogue: every kind of bad input gets `file:line:col: error:`, the line, a
caret and, where there is an obvious fix, a hint — never a traceback.

One golden file per case in data/errors (a case is `NAME.arch` and its message
`NAME.err`; cases too large to keep, or impossible to write to a file, are made by code
below).  Two more tests keep the catalogue whole and honest: every error message archc's
source can raise must be matched by some case, and README.md's list of messages must be
what the cases print.  ARCHC_UPDATE_GOLDEN=1 rewrites the goldens and the README list.
"""

from __future__ import annotations

import ast
import re

import pytest

import archc
from archc import limits
from archc.errors import ArchcError, GeometryError, ParseError, Source
from conftest import DATA, ROOT, UPDATE_GOLDEN, assert_golden

FOLDER = DATA / "errors"
CASES = sorted([*FOLDER.glob("*.arch"), *FOLDER.glob("*.prototxt")])
EXIT = {"expect_fails": 1}  # an expect line that does not hold; every other case is 2
HEAD = "network tiny input 3x32x32\n"

# Cases made by code: too large to keep as files, or not possible in a file at all.
GENERATED = {
    "limit_bytes": lambda: HEAD + "conv3-8\n" + "# a long comment\n" * (limits.MAX_BYTES // 17),
    "limit_tokens": lambda: HEAD + "relu\n" * limits.MAX_TOKENS,
    "limit_braces": lambda: HEAD + "{ " * 60 + "relu" + " }" * 60 + "\n",
    "limit_nesting_through_blocks": lambda: HEAD + "".join(
        f"block b{i}() {{ {{ b{i + 1}() }} }}\n" for i in range(30))
        + "block b30() { relu }\nb0()\n",
    "not_unicode": lambda: HEAD + "conv3-8  # \ud800\n",
}


def command(case) -> list[str]:
    """What a case runs: `archc import` for a Caffe definition, `archc export --caffe` for
    a `caffe_export_` spec, `archc check` for any other spec."""
    if case.suffix == ".prototxt":
        return ["import", case.name, "-o", "-"]
    if case.stem.startswith("caffe_export_"):
        return ["export", case.name, "--caffe", "-o", "-", "-q"]
    return ["check", case.name]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_message(case, run_cli, monkeypatch):
    monkeypatch.chdir(case.parent)  # so messages show the bare file name
    code, out, err = run_cli(*command(case))
    assert code == EXIT.get(case.stem, 2)
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert ": error: " in first and first.split(":")[1].isdigit()  # file:line:col
    assert "^" in err
    assert_golden(err, case.with_suffix(".err"))


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_error_message(name):
    text = GENERATED[name]()
    with pytest.raises(ArchcError) as caught:
        archc.analyze(Source(f"{name}.arch", text))
    rendered = caught.value.render() + "\n"
    assert re.match(rf"{name}\.arch:\d+:\d+: error: ", rendered)
    assert_golden(rendered, FOLDER / f"{name}.err")


# Caffe definitions made by code, too large to keep.
GENERATED_PROTOTXT = {
    "caffe_limit_bytes": lambda: 'name: "huge"\n' + "# a long comment\n" * (limits.MAX_BYTES // 16),
    "caffe_limit_layers": lambda: 'name: "long"\ninput: "x"\n' + "".join(
        f'layer {{ name: "r{i}" type: "ReLU" bottom: "x" top: "x" }}\n'
        for i in range(limits.MAX_LAYERS + 1)),
}


@pytest.mark.parametrize("name", sorted(GENERATED_PROTOTXT))
def test_generated_prototxt_error_message(name):
    from archc.caffe import importer

    with pytest.raises(ArchcError) as caught:
        importer.import_text(Source(f"{name}.prototxt", GENERATED_PROTOTXT[name]()))
    rendered = caught.value.render() + "\n"
    assert re.match(rf"{name}\.prototxt:\d+:\d+: error: ", rendered)
    assert_golden(rendered, FOLDER / f"{name}.err")


def test_every_case_has_a_golden_file():
    missing = [c.name for c in CASES if not c.with_suffix(".err").exists()]
    assert not missing
    stray = ({p.stem for p in FOLDER.glob("*.err")} - {c.stem for c in CASES} - set(GENERATED)
             - set(GENERATED_PROTOTXT))
    assert not stray, f"goldens without a case: {sorted(stray)}"


# -- the catalogue is complete ---------------------------------------------------------------


_RAISERS = {"_error", "_fail", "SpecError", "SemanticError", "ParseError", "GeometryError"}


def _pattern(node) -> str:
    """A regex for the messages a message expression in archc's source can produce."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+?"
                       for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pattern(node.left) + _pattern(node.right)
    return ".+?"


def raise_sites() -> list[tuple[str, int, str]]:
    """(file, line, message pattern) of every spec error archc's source can raise."""
    sites = []
    for path in sorted((ROOT / "archc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in _RAISERS and node.args):
                pattern = _pattern(node.args[0])
                if node.func.id == "_fail":  # analysis prefixes the layer: `name` (text): ...
                    pattern = r"`.+?` \(.+?\): " + pattern
                sites.append((path.relative_to(ROOT).as_posix(), node.lineno, pattern))
    return sites


def _messages() -> list[str]:
    return [re.sub(r"^.*?: error: ", "", p.read_text(encoding="utf-8").split("\n", 1)[0])
            for p in FOLDER.glob("*.err")]


def test_every_error_archc_can_raise_has_a_case():
    messages = _messages()
    uncovered = [f"{file}:{line}: {pattern}" for file, line, pattern in raise_sites()
                 if pattern != ".+?" and not any(re.fullmatch(pattern, m) for m in messages)]
    assert not uncovered, "add a case to tests/data/errors for:\n" + "\n".join(uncovered)


def test_the_site_finder_finds_sites():
    """If the finder broke, the test above would pass vacuously."""
    sites = raise_sites()
    assert len(sites) > 80
    assert any(p == re.escape("a spec describes one network") for _, _, p in sites)


# -- README.md lists them ------------------------------------------------------------------------

BEGIN, END = "<!-- error catalogue: begin -->", "<!-- error catalogue: end -->"
GROUPS = (("Syntax and limits", ParseError), ("Meaning", None), ("Geometry", GeometryError),
          ("Caffe definitions: import and export", None))


def catalogue() -> str:
    """The README's list: each case's message and hint, without its file:line:col."""
    groups: dict[str, list[str]] = {title: [] for title, _ in GROUPS}
    groups["An `expect` line that does not hold (exit code 1)"] = []
    for err in sorted(FOLDER.glob("*.err")):
        lines = err.read_text(encoding="utf-8").split("\n")
        message = re.sub(r"^.*?: error: ", "", lines[0])
        hint = next((line[len("hint: "):] for line in lines if line.startswith("hint: ")), None)
        entry = f"- {message}" + (f" — *{hint}*" if hint else "")
        if err.stem in EXIT:
            groups["An `expect` line that does not hold (exit code 1)"].append(entry)
            continue
        kind = _kind(err.stem)
        if err.stem.startswith("caffe_"):
            title = "Caffe definitions: import and export"
        else:
            title = next(title for title, cls in GROUPS if cls is not None and kind is cls) \
                if kind in (ParseError, GeometryError) else "Meaning"
        groups[title].append(entry)
    parts = []
    for title, entries in groups.items():
        parts += [f"**{title}**", "", *entries, ""]
    return "\n".join(parts).rstrip() + "\n"


def _kind(stem: str) -> type:
    case = FOLDER / f"{stem}.arch"
    if stem in GENERATED_PROTOTXT:
        return ArchcError
    if (FOLDER / f"{stem}.prototxt").exists() or stem.startswith("caffe_export_"):
        import contextlib

        from archc import cli

        with contextlib.chdir(FOLDER):
            code = cli.main(command(case if case.exists() else FOLDER / f"{stem}.prototxt"))
        assert code == 2, stem
        return ArchcError
    try:
        net = archc.analyze(case if case.exists() else Source(f"{stem}.arch", GENERATED[stem]()))
        list(archc.check(net))  # an `expect` line's target is looked up here
    except ArchcError as exc:
        return type(exc)
    raise AssertionError(f"{stem} does not fail")


def test_readme_lists_every_error_message():
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    head, rest = text.split(BEGIN, 1)
    listed, tail = rest.split(END, 1)
    wanted = "\n" + catalogue()
    if UPDATE_GOLDEN and listed != wanted:
        readme.write_text(head + BEGIN + wanted + END + tail, encoding="utf-8")
        listed = wanted
    assert listed == wanted, "README.md's error catalogue is stale: ARCHC_UPDATE_GOLDEN=1"
