"""Writing specs with the editor's help: `archc fmt`, the Pygments lexer, the TextMate
grammar of editors/vscode, and `archc lsp`.

The formatter never changes what a spec means (the syntax tree and the counts, on every
bundled spec and on fuzzed ones) and formatting twice changes nothing; every bundled
spec is formatted.  The highlighters find no illegal token in any bundled spec or any
spec in the README.  The language server answers from archc's analysis, over a real
stdio session, and never dies, whatever the text and whatever the edits.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archc
from archc import fmt, parser, vocabulary
from archc.errors import ArchcError
from archc.lsp import document
from conftest import ROOT, SPECS, assert_golden
from safety import fuzz, spec_texts, watchdog

BUNDLED = sorted(SPECS.rglob("*.arch"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_SPECS = re.findall(r"```arch\n(.*?)```", README, re.S)


# -- archc fmt ---------------------------------------------------------------------------------------


def test_every_bundled_spec_is_formatted(run_cli):
    code, _, err = run_cli("fmt", "--check", SPECS)
    assert code == 0, err


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_formatting_keeps_the_meaning_and_is_idempotent(path):
    text = path.read_text(encoding="utf-8")
    squeezed = _mangled(text)
    formatted = fmt.format_text(squeezed, str(path))
    assert fmt.format_text(formatted, str(path)) == formatted
    assert fmt._meaning(parser.parse(formatted, str(path))) == \
        fmt._meaning(parser.parse(text, str(path)))
    if path.parent == SPECS:  # a network (lib/ holds blocks): the same counts, layer by layer
        def layers(t):
            net = archc.analyze(archc.Source(str(path), t))
            return [(n.name, n.text, n.info.shape, n.info.params, n.info.macs) for n in net.nodes]
        assert layers(formatted) == layers(text)


def _mangled(text: str) -> str:
    """The text laid out badly without changing it: extra spaces around every symbol, no
    indentation, doubled blank lines, stray `;` at line ends, `×N` written `xN`."""
    out = []
    for line in text.split("\n"):
        code, hash_, comment = line.partition("#")
        code = code.strip()
        row = code.startswith(("X", "x ", ".", "-")) or code == "x"
        if not (row or code.startswith(("expect", "table"))):
            # A numbered label (`denselayer{1}:`, `{0}:`) is one token: spaced as a whole.
            parts = re.split(r"((?:[\w-]*)\{[0-9]+\}(?=\s*:))", code)
            code = "".join(f"  {part}  " if i % 2 else
                           re.sub(r"\s*([{}(),;])\s*", r"  \1  ", part)
                           for i, part in enumerate(parts))
            code = re.sub(r"×\s*([0-9]+)", r"x\1", code)
        if code and not row and not code.endswith(("{", ";")) and not code.startswith("table"):
            code += " ;"
        out.append(code + "  " + hash_ + comment)
        if not line.strip():
            out.append("")
    return "\n".join(out)


def test_the_layout_by_example():
    ugly = ('network   t input 3x32x32   # net\n'
            '  default conv  pad = 1 ;\n'
            'stem:conv3-8 x2;maxpool   # a comment\n'
            '                          # under it\n'
            'c: concat{ a: conv1-4 ; b {conv1-4;conv3-4}\n'
            '   identity }\n\n\n\n'
            'block u( c , s=2 ) {\n'
            'add act=none{ conv3-c / s; identity }\n'
            '    # inside\n'
            '}\n'
            'u(8, s = 1); gap\n'
            'FC-10\n'
            'expect params   ≈ 10K ±50%\n'
            'evaluate dense scales = ( 32 , 40 )  flip\n\n')
    assert fmt.format_text(ugly) == (
        'network t input 3x32x32     # net\n'
        'default conv pad=1\n'
        'stem: conv3-8 ×2; maxpool  # a comment\n'
        '                           # under it\n'
        'c:    concat { a: conv1-4; b { conv1-4; conv3-4 }\n'
        '               identity }\n'
        '\n'
        'block u(c, s=2) {\n'
        '    add act=none { conv3-c/s; identity }\n'
        '    # inside\n'
        '}\n'
        'u(8, s=1); gap\n'
        'FC-10\n'
        'expect params ≈ 10K ±50%\n'
        'evaluate dense scales=(32, 40) flip\n')


def test_a_pauls_table_keeps_its_columns():
    """VGG-C's rows: the pooling column stays one column, as the paper prints it."""
    text = ("network c input 3x32x32\nfeatures {\n    conv3-64 ×2; maxpool\n"
            "    conv3-256 ×2; conv1-256; maxpool\n}\n")
    assert fmt.format_text(text).split("\n")[2:4] == [
        "    conv3-64 ×2;             maxpool", "    conv3-256 ×2; conv1-256; maxpool"]


FMT_CASES = sorted((ROOT / "tests" / "data" / "fmt").glob("*.arch"))


@pytest.mark.parametrize("case", FMT_CASES, ids=[c.stem for c in FMT_CASES])
def test_fmt_golden(case):
    """Each input laid out as archc fmt lays it out (ARCHC_UPDATE_GOLDEN=1 rewrites)."""
    formatted = fmt.format_text(case.read_text(encoding="utf-8"), case.name)
    assert_golden(formatted, case.with_suffix(".formatted"))
    assert fmt.format_text(formatted, case.name) == formatted


def test_what_the_fuzzer_found():
    """An input shape written with ×, which is not a repeat; a comment holding U+0085 or
    a form feed, which are not line ends to the parser."""
    assert fmt.format_text("network t input 3×224×224 \nrelu\n") == \
        "network t input 3×224×224\nrelu\n"
    assert fmt.format_text("network t input 3x8x8 # a\x85b\x0cc\nrelu\n") == \
        "network t input 3x8x8  # a\x85b\x0cc\nrelu\n"


@fuzz(200)
@given(spec_texts())
def test_fuzzed_specs_format_without_changing_their_meaning(text):
    try:
        parser.parse(text, "<fuzz>")
    except ArchcError:
        return
    with watchdog(30, "formatting a fuzzed spec"):
        formatted = fmt.format_text(text, "<fuzz>")  # raises FormatError if the tree differs
        assert fmt.format_text(formatted, "<fuzz>") == formatted


def test_fmt_in_place_check_diff_and_errors(tmp_path, run_cli):
    spec = tmp_path / "a.arch"
    spec.write_text("network a input 3x8x8\nconv3-4 x2;FC-2\n")
    code, _, err = run_cli("fmt", "--check", spec)
    assert code == 1 and f"would reformat {spec}" in err
    code, out, _ = run_cli("fmt", "--diff", spec)
    assert code == 0 and "+conv3-4 ×2; FC-2" in out and spec.read_text().endswith("x2;FC-2\n")
    code, _, err = run_cli("fmt", spec)
    assert code == 0 and spec.read_text() == "network a input 3x8x8\nconv3-4 ×2; FC-2\n"
    assert run_cli("fmt", "--check", spec)[0] == 0
    broken = tmp_path / "b.arch"
    broken.write_text("network b input 3x8x8\nconv3-4 {\n")
    code, _, err = run_cli("fmt", broken)
    assert code == 2 and "b.arch:2:9: error: this `{` is never closed" in err
    assert broken.read_text() == "network b input 3x8x8\nconv3-4 {\n"  # untouched
    os.symlink(spec, tmp_path / "link.arch")
    spec.write_text("network a input 3x8x8\nconv3-4  ;  FC-2\n")
    code, _, err = run_cli("fmt", tmp_path / "link.arch")
    assert code == 2 and "symbolic link" in err and (tmp_path / "link.arch").is_symlink()
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("fmt", tmp_path / "empty")
    assert code == 2 and "holds no .arch files" in err


def test_fmt_reads_standard_input():
    done = subprocess.run([sys.executable, "-m", "archc", "fmt", "-"], capture_output=True,
                          text=True, input="network s input 3x8x8\nconv3-4;;FC-2;\n", timeout=60)
    assert done.returncode == 0 and done.stdout == "network s input 3x8x8\nconv3-4; FC-2\n"


# -- highlighting ------------------------------------------------------------------------------------


def test_the_pygments_lexer_is_registered_and_finds_no_error_in_any_spec():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.token import Error, Name

    lexer = get_lexer_by_name("arch")
    assert type(lexer) is type(get_lexer_for_filename("vgg_e.arch"))
    texts = [p.read_text(encoding="utf-8") for p in BUNDLED] + README_SPECS
    assert len(README_SPECS) >= 8
    for text in texts:
        errors = [value for token, value in lexer.get_tokens(text) if token is Error]
        assert not errors, (errors, text[:80])
    tokens = list(lexer.get_tokens("conv3-64 ×2; cnov3-64; inception(1)\n"))
    assert (Name.Builtin, "conv3-64") in tokens and (Name, "cnov3-64") in tokens
    assert (Name.Function, "inception") in tokens
    assert (Error, "$") in list(lexer.get_tokens("conv3-64 $\n"))


GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "arch.tmLanguage.json"
VSCODE = ROOT / "editors" / "vscode"


def test_the_textmate_grammar_knows_every_layer_word():
    import json

    patterns = json.loads(GRAMMAR.read_text(encoding="utf-8"))["patterns"]
    layer = next(p for p in patterns if p.get("name") == "support.function.layer.arch")
    assert layer["match"] == f"(?i)(?<![\\w-])(?:{vocabulary.layer_pattern()})(?![\\w-])", \
        "the grammar's layer words are not archc.vocabulary's: set its match to this"


def test_the_textmate_grammar_tokenises_every_spec_as_vs_code_does(tmp_path):
    """vscode-textmate and vscode-oniguruma (npm, installed by .ci/run: `npm ci` in
    editors/vscode) tokenise every bundled spec and README spec: no illegal token."""
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():
        pytest.fail("run `npm ci --prefix editors/vscode` first (the README's set-up does)")
    files = [str(p) for p in BUNDLED]
    for i, text in enumerate(README_SPECS):
        (tmp_path / f"readme{i}.arch").write_text(text, encoding="utf-8")
        files.append(str(tmp_path / f"readme{i}.arch"))
    done = subprocess.run(["node", str(VSCODE / "test" / "tokenize.js"), *files],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(files)} files" in done.stdout and " 0 illegal" in done.stdout
    (tmp_path / "bad.arch").write_text("network b input 3x8x8\nconv3-4 $\n")
    done = subprocess.run(["node", str(VSCODE / "test" / "tokenize.js"),
                           str(tmp_path / "bad.arch")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and 'bad.arch:2:9: illegal token "$"' in done.stdout


# -- the language server's answers ----------------------------------------------------------------------


def _doc(tmp_path, text, name="net.arch"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return document.analyse(str(path), text)


NET = """network small input 3x32x32
block unit(c, s=1) { conv3-c/s; bn }
stem: conv3-16
body { unit(32, s=2); unit(32) ×2 }
gap
fc:   FC-10
expect params 24,106
train sgd lr=0.1 batch=8 epochs=1
"""


def test_diagnostics_are_archcs_errors_warnings_and_expect_lines(tmp_path):
    assert document.diagnostics(_doc(tmp_path, NET)) == []
    (d,) = document.diagnostics(_doc(tmp_path, NET.replace("conv3-16", "cnov3-16")))
    assert (d.span, d.severity) == (document.Span(3, 7, 3, 15), "error")
    assert "unknown layer `cnov3-16`" in d.message and "did you mean `conv3-16`?" in d.message
    (d,) = document.diagnostics(_doc(tmp_path, NET.replace("24,106", "24,107")))
    assert d.span.line == 7 and "archc computes 24,106" in d.message
    (d,) = document.diagnostics(_doc(tmp_path, NET.replace("stem: conv3-16", "stem: conv3-16; relu")))
    assert d.severity == "warning" and "activated twice" in d.message
    (d,) = document.diagnostics(_doc(tmp_path, NET.replace("unit(32) ×2", "unit(0) ×2")))
    assert d.span.line == 2 and "the channels in `conv3-c`" in d.message  # in the block,
    ((_, span, note),) = d.related  # with a note at the call that made it
    assert span.line == 4 and note == "in `unit(0, s=1)`"


def test_an_error_in_a_used_file_is_shown_where_it_is_used(tmp_path):
    (tmp_path / "lib.arch").write_text("block unit(c) { conv3-c; maxpol }\n")
    text = 'network n input 3x8x8\nuse "lib.arch"\nunit(4)\nFC-2\n'
    (d,) = document.diagnostics(_doc(tmp_path, text))
    assert d.span.line == 2 and "lib.arch:1:26" in d.message and "maxpol" in d.message


def test_hover_inlay_hints_definitions_references_symbols(tmp_path):
    doc = _doc(tmp_path, NET)
    layer = document.hover(doc, 3, 8)
    assert "**stem**" in layer and "output: 16×32×32" in layer and "params: 448" in layer
    assert "receptive field: 3/1/1" in layer and "followed by archc's `relu`" in layer
    call = document.hover(doc, 4, 9)
    assert "block unit(c, s=1)" in call and "`unit(32, s=2)`" in call and "32×16×16" in call
    assert "holds" in document.hover(doc, 7, 3)
    assert "sgd, lr 0.1, batch 8" in document.hover(doc, 8, 2)
    hints = {line: label for line, _, label in document.inlay_hints(doc)}
    assert hints[3] == "→ 16×32×32 · 448 params"
    assert hints[4] == f"→ 32×16×16 · {4640 + 64 + 2 * (9248 + 64):,} params"
    assert hints[6] == "→ 10 · 330 params" and 2 not in hints  # the block body: no hint
    assert document.definition(doc, 4, 9) == (doc.path, document.Span(2, 1, 2, 37))
    assert [s.line for _, s in document.references(doc, 4, 9)] == [4, 4]
    (net,) = document.symbols(doc)[:1]
    assert net.name == "small" and [c.name for c in net.children] == ["stem", "body", "fc"]
    assert [s.name for s in document.symbols(doc)] == ["small", "unit"]


def test_definition_of_a_use_and_of_a_block_in_a_used_file(tmp_path):
    (tmp_path / "lib.arch").write_text("# units\nblock unit(c) { conv3-c }\n")
    doc = _doc(tmp_path, 'network n input 3x8x8\nuse "lib.arch"\nunit(4)\nFC-2\n')
    assert document.definition(doc, 2, 6) == (str(tmp_path / "lib.arch"), document.Span(1, 1, 1, 1))
    path, span = document.definition(doc, 3, 2)
    assert Path(path).resolve() == (tmp_path / "lib.arch").resolve() and span.line == 2


def test_completion_offers_what_may_be_written_there(tmp_path):
    doc = _doc(tmp_path, NET)
    labels = lambda line, column: [c[0] for c in document.completion(doc, line, column)]
    assert "conv3-64" in labels(5, 1) and "unit" in labels(5, 1) and "expect" in labels(5, 1)
    text = NET + "conv3-8 \naugment \ntrain s\n"
    doc = _doc(tmp_path, text)
    assert {"pad=", "groups=", "stride=", "act="} <= set(labels(9, 9))
    assert {"resize=", "scale=", "flip="} <= set(labels(10, 9))
    assert labels(11, 8) == ["sgd", "adam"]


def test_formatting_through_the_server_is_archc_fmt(tmp_path):
    doc = _doc(tmp_path, "network f input 3x8x8\nconv3-4;FC-2\n")
    assert document.formatted(doc) == "network f input 3x8x8\nconv3-4; FC-2\n"
    assert document.formatted(_doc(tmp_path, "network f input 3x8x8\nconv3-4 {\n")) is None


@fuzz(150)
@given(st.one_of(spec_texts(), st.text(max_size=300),
                 st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 20), st.text(max_size=12)),
                          max_size=6).map(lambda edits: _edited(NET, edits))))
def test_the_answers_never_raise(tmp_path_factory, text):
    """Any text — fuzzed from the grammar, random, or the example edited at random."""
    folder = tmp_path_factory.getbasetemp() / "never"
    folder.mkdir(exist_ok=True)
    with watchdog(30, "answering about a fuzzed document"):
        doc = document.analyse(str(folder / "x.arch"), text)
        document.diagnostics(doc)
        document.symbols(doc)
        document.inlay_hints(doc)
        document.formatted(doc)
        for line in range(1, min(text.count("\n") + 2, 12)):
            for column in (1, 3, 8, 20):
                document.hover(doc, line, column)
                document.definition(doc, line, column)
                document.references(doc, line, column)
                document.completion(doc, line, column)


def test_a_spec_at_the_limits_is_answered_within_the_limits_time(tmp_path):
    text = "network w input 3x32x32\n" + "conv3-4\n" * 2490 + "FC-10\n"
    with watchdog(20, "answering about a spec at the layer limit"):
        doc = _doc(tmp_path, text)
        assert document.diagnostics(doc) == [] and len(document.inlay_hints(doc)) == 2491
        document.symbols(doc)
        assert "conv3-4" in document.hover(doc, 1000, 2)


def _edited(text: str, edits) -> str:
    for at, cut, insert in edits:
        at = at % (len(text) + 1)
        text = text[:at] + insert + text[at + cut:]
    return text


# -- the language server over stdio --------------------------------------------------------------------


def test_a_session_over_stdio(tmp_path):
    """An editor's conversation: open a spec with an error, see it, fix it, see it go;
    hover, hints, symbols, formatting; a document whose file vanished; shut down — with
    nothing on stderr."""
    asyncio.run(asyncio.wait_for(_session(tmp_path), 120))


def test_a_session_on_a_bundled_spec_with_hundreds_of_edits(tmp_path):
    """resnet18 as it is bundled: hover and hints, a definition across its `use`, a
    completion; then 300 random edits, and the server still answers, with nothing on
    stderr."""
    asyncio.run(asyncio.wait_for(_bundled_session(), 240))


async def _client(cwd):
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("archc-test", "1")
    published: dict[str, list] = {}
    arrived = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params):
        published[params.uri] = params.diagnostics
        arrived.set()

    await client.start_io(sys.executable, "-m", "archc", "lsp", cwd=str(cwd))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=Path(cwd).as_uri()))
    client.initialized(types.InitializedParams())
    return client, published, arrived


async def _bundled_session():
    import random

    from lsprotocol import types

    client, published, arrived = await _client(SPECS)
    path = SPECS / "resnet18.arch"
    text = path.read_text(encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="arch", version=1, text=text)))
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith("layer2"))
    column = lines[row].index("basic_down") + 2
    where = types.TextDocumentPositionParams(types.TextDocumentIdentifier(uri),
                                             types.Position(row, column))
    hover = await client.text_document_hover_async(types.HoverParams(
        where.text_document, where.position))
    assert "block basic_down(c, s=2)" in hover.contents.value
    assert "output: 128×28×28" in hover.contents.value
    found = await client.text_document_definition_async(types.DefinitionParams(
        where.text_document, where.position))
    assert found.uri == (SPECS / "lib" / "resnet.arch").resolve().as_uri()
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0),
                                                       types.Position(len(lines), 0))))
    assert any(h.position.line == row and h.label.startswith("→ 128×28×28") for h in hints)
    items = await client.text_document_completion_async(types.CompletionParams(
        types.TextDocumentIdentifier(uri), types.Position(row, 0)))
    assert {"basic", "basic_down", "conv3-64"} <= {i.label for i in items.items}

    generator = random.Random(0)
    current = text
    for version in range(2, 302):
        lines = current.split("\n")
        line = generator.randrange(len(lines))
        start = generator.randrange(len(lines[line]) + 1)
        end = min(len(lines[line]), start + generator.randrange(4))
        insert = generator.choice(["", "x", "{", "}", ";", "conv3-", "(", "×2", "\n", "#", "é"])
        lines[line] = lines[line][:start] + insert + lines[line][end:]
        current = "\n".join(lines)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangeWholeDocument(current)]))
        if version % 50 == 0:  # and questions between the edits
            await client.text_document_hover_async(types.HoverParams(
                types.TextDocumentIdentifier(uri), types.Position(line, start)))
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(uri)))
    assert symbols is not None  # alive, and answering
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    stderr = await client._server.stderr.read()
    assert stderr == b"", stderr.decode()


async def _session(tmp_path):
    from lsprotocol import types

    client, published, arrived = await _client(tmp_path)

    async def diagnostics_for(uri):
        while uri not in published:
            arrived.clear()
            await arrived.wait()
        return published.pop(uri)

    path = tmp_path / "net.arch"
    bad = NET.replace("conv3-16", "cnov3-16")
    path.write_text(bad)
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="arch", version=1, text=bad)))
    (d,) = await diagnostics_for(uri)
    assert "unknown layer `cnov3-16`" in d.message
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (2, 6, 14)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangePartial(
            types.Range(types.Position(2, 6), types.Position(2, 10)), "conv")]))
    assert not await diagnostics_for(uri)
    hover = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), types.Position(2, 8)))
    assert "output: 16×32×32" in hover.contents.value
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), types.Position(9, 0))))
    assert any(h.label == "→ 16×32×32 · 448 params" and h.position.line == 2 for h in hints)
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(uri)))
    assert [s.name for s in symbols] == ["small", "unit"]
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        types.TextDocumentIdentifier(uri), types.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert not edits  # already formatted

    gone = (tmp_path / "gone.arch").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=gone, language_id="arch", version=1,
                               text="network g input 3x8x8\nuse \"nowhere.arch\"\n")))
    (d,) = await diagnostics_for(gone)
    assert "cannot find `nowhere.arch`" in d.message
    hover = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier("file:///never/opened.arch"), types.Position(0, 0)))
    assert hover is None

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    stderr = await client._server.stderr.read()
    assert stderr == b"", stderr.decode()
