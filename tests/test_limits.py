"""archc.limits: each limit refuses with a clear error at the place that crosses it — and a
spec just inside it still works.  Nothing here waits for a timeout: the refusals are
checked by what they say, and tests/safety.py's watchdog turns a hang into a failure."""

from __future__ import annotations

import math
import sys

import pytest

import archc
from archc import analysis, limits
from archc.errors import ParseError, SemanticError, Source
from safety import check_error, watchdog

HEAD = "network t input 3x8x8\n"


def refused(text: str, error=SemanticError) -> str:
    with watchdog(30, "a spec at a limit"):
        with pytest.raises(error) as caught:
            archc.analyze(Source("<limits>", text))
    return check_error(caught.value, text, "<limits>")


def test_a_spec_over_a_mebibyte_is_refused_where_it_crosses():
    text = HEAD + "relu\n" + "# padding\n" * (limits.MAX_BYTES // 10)
    message = refused(text, ParseError)
    assert "longer than 1 MiB" in message
    line = int(message.split(":")[1])
    assert line == text[:limits.MAX_BYTES].count("\n") + 1


def test_a_big_file_is_not_read_whole(tmp_path):
    spec = tmp_path / "huge.arch"
    with open(spec, "w", encoding="utf-8") as handle:
        handle.write(HEAD + "relu\n")
        handle.write("# " + "x" * 100 + "\n")
        handle.seek(50 * limits.MAX_BYTES)  # a sparse 50 MiB file
        handle.write("\n")
    from archc import sources

    assert len(sources.read(spec).text) <= limits.MAX_BYTES + 4
    with pytest.raises(ParseError, match="longer than 1 MiB"):
        archc.analyze(spec)


def test_too_many_tokens():
    within = HEAD + "relu\n" * (limits.MAX_TOKENS // 2 - 10)  # a newline is a token
    assert archc.analyze(Source("<limits>", within))
    comments = HEAD + "relu\n" + "# a comment line\n" * limits.MAX_TOKENS  # not tokens
    assert archc.analyze(Source("<limits>", comments))
    message = refused(HEAD + "relu\n" * limits.MAX_TOKENS, ParseError)
    assert f"more than {limits.MAX_TOKENS:,} words and symbols" in message


def test_tokens_of_used_files_count_too(tmp_path):
    # 8 tokens a line (the newline is one), 5,000 in all; the spec has 5,000 more.
    (tmp_path / "lib.arch").write_text("block b() { relu }\n" * (limits.MAX_TOKENS // 16),
                                       encoding="utf-8")
    spec = tmp_path / "main.arch"
    spec.write_text(HEAD + 'use "lib.arch"\n' + "relu\n" * (limits.MAX_TOKENS // 4),
                    encoding="utf-8")
    with pytest.raises(ParseError, match="and the files it uses have more than"):
        archc.analyze(spec)


def test_braces_nested_too_deep():
    depth = limits.MAX_NESTING
    assert archc.analyze(Source("<limits>", HEAD + "{ " * depth + "relu" + " }" * depth + "\n"))
    message = refused(HEAD + "{ " * (depth + 1) + "relu" + " }" * (depth + 1), ParseError)
    assert f"nest more than {depth} deep" in message
    # Thousands of braces are refused before the parser (or Python's stack) sees them.
    refused(HEAD + "{" * 100_000 + "}" * 100_000, ParseError)


def test_nesting_through_a_chain_of_block_calls():
    blocks = [f"block b{i}() {{ {{ b{i + 1}() }} }}" for i in range(40)] + ["block b40() { relu }"]
    message = refused(HEAD + "\n".join(blocks) + "\nb0()\n")
    assert f"more than {limits.MAX_NESTING} deep here (through block calls)" in message


def test_recursive_blocks_are_named_not_followed():
    message = refused(HEAD + "block a() { b() }\nblock b() { a() }\na()\n")
    assert "uses itself (a → b → a)" in message


def test_repeat_counts():
    assert len(archc.analyze(Source("<l>", HEAD + f"relu ×{limits.MAX_REPEAT}\n")).nodes) == \
        limits.MAX_REPEAT + 1
    message = refused(HEAD + f"relu ×{limits.MAX_REPEAT + 1}\n")
    assert f"at most {limits.MAX_REPEAT:,}" in message
    refused(HEAD + "relu ×" + "9" * 5000 + "\n", ParseError)  # past Python's int() digit limit


def test_nested_repeats_stop_at_the_layer_limit():
    message = refused(HEAD + "{ { { relu } ×1000 } ×1000 } ×1000\n")
    assert f"more than {limits.MAX_LAYERS:,} layers and scopes" in message
    # Empty groups unroll to nothing, but unrolling them is work all the same.
    refused(HEAD + "relu\n{ { { } ×1000 } ×1000 } ×1000\n")


def test_block_calls_that_multiply():
    text = HEAD + "block a() { relu ×10 }\n" + "".join(
        f"block {n}() {{ {m}() ×10 }}\n" for n, m in zip("bcdef", "abcde")) + "f()\n"
    assert "more than 5,000 layers" in refused(text)


@pytest.mark.parametrize("spec", [
    "conv3-16777217", "conv99999999-8", "FC-99999999999999999999", "maxpool3 stride=16777217",
    "conv3-8 pad=16777217", "LRN size=16777217", "adaptive-avgpool16777217",
    "conv3-8 groups=" + "9" * 40,
])
def test_absurd_sizes(spec):
    message = refused(HEAD + spec + "\n")
    assert "16,777,216" in message or "digits" in message


def test_absurd_input_shapes():
    assert "longer than 16,777,216" in refused("network t input 3x16777217x8\nrelu\n")
    refused("network t input 3x" + "1" * 50 + "x8\nrelu\n", ParseError)
    with pytest.raises(archc.UsageError):
        archc.analyze(Source("<l>", HEAD + "relu\n"), input="3x" + "9" * 5000 + "x3")


def test_numbers_beyond_a_float_are_refused():
    assert "a number such as" in refused(HEAD + "LRN alpha=1e999\n")
    assert "a number such as" in refused(HEAD + "LRN alpha=nan\n")
    assert "a number such as" in refused(HEAD + "LRN alpha=inf\n")
    refused(HEAD + "relu\nexpect params " + "9" * 200 + "\n", ParseError)


def test_large_but_legal_sizes_are_analysed_without_building_anything():
    net = archc.analyze(Source("<l>", "network big input 3x1000000x1000000\n"
                                       "conv3-4096\nadaptive-avgpool16000000\nFC-10\n"))
    assert analysis.totals(net).macs > 10**16  # counted, never allocated


def test_adaptive_pooling_cells_have_a_closed_form():
    for size in range(1, 40):
        for out in range(1, 40):
            windows = [math.ceil((i + 1) * size / out) - (i * size) // out for i in range(out)]
            assert analysis._adaptive_cells(size, out) == sum(windows)


def test_the_limits_are_far_above_the_papers():
    for name in ("googlenet", "googlenet_tv", "vgg_e"):
        assert len(archc.analyze(name).nodes) * 10 < limits.MAX_LAYERS


def test_long_lines_are_shown_around_the_caret():
    text = HEAD + "relu " + "x" * 5000 + " cnov3-64\n"
    message = refused(text)
    excerpt = message.split("\n")[1]
    assert len(excerpt) < 200 and "…" in excerpt


# -- every command, not only analysis ------------------------------------------------------------


def _calls(fn) -> int:
    """Python and C function calls made by ``fn()``: a measure of work that, unlike
    time, is the same on every machine and under any load."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("layer", ["relu", "conv3-4 groups=2 act=none", "{ conv1-4; maxpool1 }",
                                   "concat { conv1-2; conv1-2 }"])
def test_work_grows_linearly_with_the_network(layer):
    """Codegen walked back through every activation for every layer (4,990 activations
    took 4.6 s to compile): doubling a network must not much more than double the work
    of analysing, compiling or drawing it."""
    from archc import codegen, render

    def work(n: int) -> dict[str, int]:
        text = HEAD.replace("3x8x8", "4x8x8") + f"{layer} ×{n}\nFC-2\n"
        net = archc.analyze(Source("<l>", text))
        return {"analyze": _calls(lambda: archc.analyze(Source("<l>", text))),
                "compile": _calls(lambda: codegen.generate(net)),
                "graph": _calls(lambda: render.dot(net))}
    small, large = work(150), work(300)
    for stage in small:
        assert large[stage] / small[stage] < 2.3, (stage, small[stage], large[stage])


@pytest.mark.parametrize("args", [["check"], ["compile", "-o", "t.py"], ["graph", "-o", "t.dot"],
                                  ["stats", "--plot", "t.png", "--no-table"]])
@pytest.mark.parametrize("body", [
    "relu ×998\n" * 5,                                   # the most activations
    "conv3-4 groups=2 act=none ×998\n" * 5,              # the most towers to draw
    "conv3-4 ×1000\nconv3-4 ×1000\nconv3-4 ×490\n",      # the most layers with weights
])
def test_every_command_finishes_at_the_limits(run_cli, tmp_path, monkeypatch, args, body):
    """Inputs within the limits took graph 16 s, plot 20 s and more; here each command
    must be done well inside the hang watchdog (BENCHMARKS.md has the times)."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "worst.arch"
    spec.write_text("network worst input 4x8x8\n" + body)
    with watchdog(60, f"archc {args[0]} at the limits"):
        code, _, err = run_cli(args[0], spec, *args[1:], "-q")
    assert code == 0, err


def test_dot_gets_a_time_limit(run_cli, tmp_path, monkeypatch):
    import shutil

    if shutil.which("dot") is None:
        pytest.fail("these tests need Graphviz's dot (apt-get install graphviz)")
    monkeypatch.setattr(limits, "RENDER_SECONDS", 0.01)
    spec = tmp_path / "worst.arch"
    spec.write_text("network worst input 4x8x8\n" + "conv3-4 groups=2 act=none ×998\n" * 5)
    code, _, err = run_cli("graph", spec, "-o", tmp_path / "t.svg", "-q")
    assert code == 2 and "took more than 0.01 s to draw this network" in err
    assert "--collapse" in err and list(tmp_path.iterdir()) == [spec]


def test_used_files_count_toward_the_size_limit(tmp_path):
    """Each `use` cost no tokens, so thousands of 1 MiB files of comments took minutes:
    the spec and every file it uses hold at most limits.MAX_BYTES together."""
    half = "block b() { relu }\n" + "# comment\n" * (limits.MAX_BYTES // 20)
    for name in ("one.arch", "two.arch"):
        (tmp_path / name).write_text(half.replace("b()", f"{name[:3]}()"))
    spec = tmp_path / "main.arch"
    spec.write_text(HEAD + 'use "one.arch"\nuse "two.arch"\none()\n')
    with pytest.raises(ParseError, match="this spec and the files it uses are longer than 1 MiB"):
        archc.analyze(spec)
    # The same file under another name is read once.
    (tmp_path / "also_one.arch").hardlink_to(tmp_path / "one.arch")
    spec.write_text(HEAD + 'use "one.arch"\nuse "also_one.arch"\n' * 100 + "one()\n")
    assert archc.analyze(spec)


def test_building_what_memory_cannot_hold_is_refused_before_allocating():
    """`FC-16777216` after a 3×4096×4096 input is 3 PiB of weights: torch would try."""
    with pytest.raises(archc.UsageError, match=r"844,424,946,909,184 parameters take 3\.0 PiB "
                                               r"in float32, more than this machine's memory"):
        archc.build("network t input 3x4096x4096\nFC-16777216\n")
    with pytest.raises(archc.UsageError, match="68,870,514,496 parameters"):
        archc.build("vgg_d", num_classes=limits.MAX_SIZE)
    import torch

    with torch.device("meta"):  # on the meta device nothing is allocated: anything goes
        assert archc.build("network t input 3x4096x4096\nFC-16777216\n").fc.weight.is_meta
