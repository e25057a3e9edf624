"""archc turns user text into Python and DOT: no spec, file name or `use`d file can make
that text run (or draw) anything the spec did not mean.

Names from a spec become identifiers in generated code and are validated; everything
else that reaches a generated file — comments, the spec in the docstring, file names —
is escaped.  Each case is checked with Python's own parser (tests/safety.py: the module's
structure, the names it reads) and by tokenizing it: the payload may sit in comments and
strings only.
"""

from __future__ import annotations

import ast as pyast
import keyword
import os
import shutil
import subprocess

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc import naming, render
from archc.errors import SemanticError, Source, one_line
from safety import check_error, check_generated, code_outside_strings, watchdog

HEAD = "network t input 3x8x8\n"
PAYLOAD = "__import__('os').system('echo owned')"


def refused(text: str) -> str:
    with pytest.raises(SemanticError) as caught:
        archc.analyze(Source("<injection>", text))
    return check_error(caught.value, text, "<injection>")


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["class", "import", "None", "lambda", "torch", "nn", "F",
                                  "self", "x", "logits", "flatten", "super", "forward",
                                  "state_dict", "training", "FUSED", "INPUT_SHAPE", "__class__",
                                  "_modules", "_parameters", "__init__"])
def test_labels_that_would_break_generated_code_are_refused(name):
    for text in (f"{name}: conv3-8\nFC-2\n",                          # an attribute
                 f"conv3-8\n{name}: side {{ gap; FC-2 }}\nFC-2\n",     # a local and a field
                 f"concat {{ {name}: conv1-2; conv1-2 }}\nFC-2\n"):    # a keyword argument
        message = refused(HEAD + text)
        assert f"`{name}` cannot be a" in message


def test_every_attribute_of_nn_module_is_reserved():
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    missing = public - naming.RESERVED
    assert not missing, f"add to archc/naming.py's RESERVED: {sorted(missing)}"


@pytest.mark.parametrize("name, why", [
    ("concat", "class `Concat` would replace"), ("model", "class `Model` would replace"),
    ("ordered_dict", "class `OrderedDict`"), ("scaled_tanh", "class `ScaledTanh`"),
    ("torch", "reserved"), ("typing", "would hide the `typing` module"), ("f", "class `F`"),
    ("_init", "starting with `_`"), ("__init__", "starting with `_`"), ("def", "reserved"),
])
def test_network_names_that_would_break_their_module_are_refused(name, why):
    assert why in refused(f"network {name} input 3x8x8\nconv3-8\nFC-2\n")


def test_names_outside_the_identifier_alphabet_cannot_even_be_written():
    for text in ("ünïcode: conv3-8\n", "a.b: conv3-8\n", "network t-1 input 3x8x8\n"):
        with pytest.raises(archc.SpecError):
            archc.analyze(Source("<i>", HEAD + text if not text.startswith("network") else text))


# -- text that is copied into the file ---------------------------------------------------------


# Each goes inside comments (a newline would end one, and what follows it is then spec
# text, refused as such), so every character but the newline.
HOSTILE = [
    '"""', "'''", '"', "\\", "\\n", "\x00", "\x0b", "\x0c", "\x1b[2J", "\u2028", "\x85",
    '""" + ' + PAYLOAD + ' + """', "'''" + PAYLOAD + "'''", '\\""" ' + PAYLOAD, '"' + PAYLOAD,
]


def _hostile_spec(bad: str) -> str:
    return (f"# A title {bad} with {bad} in it\n"
            f"network t input 3x8x8  # {bad}\n"
            f"conv1: conv3-8  # trailing {bad}\n"
            f"FC-2 # {bad}")  # no newline at the end: the docstring's last line


@pytest.mark.parametrize("bad", HOSTILE, ids=[repr(h)[:24] for h in HOSTILE])
def test_comments_and_the_docstring_cannot_be_broken_out_of(bad):
    text = _hostile_spec(bad)
    net = archc.analyze(Source("<injection>", text))
    source = archc.generate(net)
    check_generated(source, net)
    assert not {"__import__", "os", "system", "echo"} & set(code_outside_strings(source).split())
    module = archc.load(net)  # and it runs: nothing printed, nothing imported
    assert module.T().forward(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


@pytest.mark.parametrize("name", ['t"""x.arch', "t\nimport os.arch", "t\\.arch", "t\r#'.arch",
                                  "t\u2028x.arch", "t\x1b[2J.arch"])
def test_file_names_cannot_break_the_generated_file(name, tmp_path, run_cli):
    spec = tmp_path / name
    spec.write_text(HEAD + "conv3-8\nFC-2\n", encoding="utf-8")
    code, out, err = run_cli("compile", spec, "-o", "-")
    assert code == 0, err
    check_generated(out, archc.analyze(spec))
    assert "\x1b" not in out and "\x1b" not in err
    dot = render.dot(archc.analyze(spec))
    first, second = dot.splitlines()[:2]
    assert first.startswith("// Generated by archc") and "import os" not in second


def test_a_used_file_with_an_odd_name(tmp_path):
    (tmp_path / "lib#'\\x.arch").write_text("block b(c) { conv3-c }\n", encoding="utf-8")
    spec = tmp_path / "main.arch"
    spec.write_text(HEAD + 'use "lib#\'\\x.arch"\nb(4)\nFC-2\n', encoding="utf-8")
    net = archc.analyze(spec)
    check_generated(archc.generate(net), net)


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
@pytest.mark.parametrize("bad", HOSTILE[:12], ids=[repr(h)[:24] for h in HOSTILE[:12]])
def test_dot_output_is_one_graph_whatever_the_spec_says(bad, tmp_path):
    spec = tmp_path / f"odd{bad.replace('/', '_')}.arch"
    try:
        spec.write_text(_hostile_spec(bad), encoding="utf-8")
    except (OSError, ValueError):  # a NUL cannot be part of a file name
        spec = tmp_path / "odd.arch"
        spec.write_text(_hostile_spec(bad), encoding="utf-8")
    net = archc.analyze(spec)
    done = subprocess.run(["dot", "-Tcanon"], input=render.dot(net).encode(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().count("digraph") == 1


def test_keywords_are_all_refused_as_labels():
    for word in keyword.kwlist:
        if word.isidentifier():
            with pytest.raises(archc.SpecError):
                archc.analyze(Source("<i>", HEAD + f"{word}: conv3-8\nFC-2\n"))


# -- the docstring, at every wrap offset ---------------------------------------------------------

# What random comment text is made of: the characters that can close or bend a string
# literal, escapes, control characters, and words of every length, so that a wrap at 88
# columns can fall anywhere (between a backslash and what it escapes, inside `\N{...}`).
_PIECES = st.sampled_from(['"', '"""', "'", "\\", "\\N{", "\\N{BULLET}", "}", "\\x", "\\u00e9",
                           "\t", "\x00", "\x0b", "\x1b[2J", "\u2028", "\u202e", "\ufeff", "é",
                           " ", "  ", "word", "w", "x" * 40, PAYLOAD, "\\\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(lead=st.integers(0, 100), pieces=st.lists(_PIECES, max_size=40))
def test_any_comment_reads_back_from_the_docstrings(lead, pieces):
    """The spec's opening comment lands in the module's and the class's docstrings: for
    any text, at any offset from the 88-column wrap, the module parses, runs nothing, and
    both docstrings say what the comment said (wrapped, its control characters spaces)."""
    comment = "x" * lead + "".join(pieces)
    lines = comment.split("\n")
    text = "".join(f"# {line}\n" for line in lines) + "network t input 3x8x8\nconv3-8\nFC-2\n"
    net = archc.analyze(Source("<docstring>", text))
    source = archc.generate(net)
    tree = check_generated(source, net)
    assert not {"__import__", "system"} & set(code_outside_strings(source).split())
    intended = " ".join(one_line(" ".join(line.strip() for line in lines)).split()) or "t"
    module_doc = pyast.get_docstring(tree, clean=False)
    class_doc = next(pyast.get_docstring(node, clean=False) for node in tree.body
                     if isinstance(node, pyast.ClassDef) and node.name == "T")
    for doc in (module_doc, class_doc):
        title = doc.split("\n\n")[0] if intended != "t" else "t"
        assert " ".join(title.split()) == intended


# -- `use` reads specs in the spec's folder, and nothing else ------------------------------------


SECRET = "the-secret-contents-8c1f"


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    """A spec folder beside a secret: links, pipes and devices that lead out of it."""
    root = tmp_path_factory.mktemp("use")
    (root / "secret.arch").write_text(f"{SECRET} {SECRET}\n")
    (root / "secret.txt").write_text(f"{SECRET}\n")
    folder = root / "specs"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "ok.arch").write_text("block ok() { relu }\n")
    (folder / "link.arch").symlink_to(root / "secret.arch")
    (folder / "lib" / "up.arch").symlink_to(root)
    (folder / "dir.arch").mkdir()
    os.mkfifo(folder / "pipe.arch")
    (folder / "null.arch").symlink_to("/dev/null")
    return folder


_TARGETS = st.sampled_from([
    "/etc/shadow", "/etc/passwd", "/proc/kmsg", "/dev/zero", "/dev/stdin", "~/.bashrc",
    "../secret.arch", "../secret.txt", "lib/../../secret.arch", "./../secret.arch",
    "link.arch", "lib/up.arch/secret.arch", "pipe.arch", "null.arch", "dir.arch",
    "secret.txt", "lib/ok.arch", "lib/ok", "lib//ok.arch", "", ".arch", "lib/ok.arch/",
    "C:\\\\Windows\\\\x.arch", "\\\\\\\\server\\\\x.arch", "lib/../lib/ok.arch",
    "lib/inception.arch", "../../specs/lib/inception.arch"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(targets=st.lists(_TARGETS, min_size=1, max_size=3))
def test_use_never_reads_outside_the_spec_folder(hostile_folder, targets):
    spec = hostile_folder / "main.arch"
    uses = "".join(f'use "{t}"\n' for t in targets)
    spec.write_text(f"network t input 3x8x8\n{uses}conv3-8\nFC-2\n")
    with watchdog(30, "a hostile `use`"):
        try:
            archc.analyze(spec)
        except archc.ArchcError as exc:
            assert SECRET not in exc.render()
            check_error(exc, spec.read_text(), str(spec))
            return
    allowed = {"lib/ok.arch", "lib//ok.arch", "lib/ok.arch/", "lib/../lib/ok.arch",
               "lib/inception.arch"}
    assert set(targets) <= allowed


@pytest.mark.parametrize("name", ["odd\\", "odd\\.arch", 'odd"', "odd\\\\\\"])
def test_a_file_name_ending_in_a_backslash_still_gives_a_valid_dot_file(name, tmp_path, run_cli):
    if shutil.which("dot") is None:
        pytest.fail("this test needs Graphviz's dot (apt-get install graphviz)")
    spec = tmp_path / name
    spec.write_text(HEAD + "conv3-8\nFC-2\n", encoding="utf-8")
    assert run_cli("graph", spec, "-o", tmp_path / "t.dot")[0] == 0
    done = subprocess.run(["dot", "-Tcanon", str(tmp_path / "t.dot")], capture_output=True)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
