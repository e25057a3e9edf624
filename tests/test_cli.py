"""The `archc` command: stats, check and specs, their formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import archc

from conftest import ROOT, SPECS

VGG = [SPECS / f"{n}.arch" for n in ("vgg_a", "vgg_a_lrn", "vgg_b", "vgg_c", "vgg_d", "vgg_e")]


def test_stats_by_bundled_name(run_cli):
    code, out, err = run_cli("stats", "vgg_e")
    assert code == 0
    assert out.startswith("vgg_e — ")
    assert "features.0    conv3-64   64×224×224" in out
    assert "143,667,240" in out and "19,632,062,464" in out
    assert " relu " not in out  # the activations archc adds are hidden, as in the paper


def test_stats_all_shows_added_activations(run_cli):
    _, out, _ = run_cli("stats", "vgg_a", "--all")
    assert "features.1    relu" in out


def test_stats_markdown(run_cli):
    _, out, _ = run_cli("stats", "nin", "--format", "markdown")
    assert "| name | layer | output | params | MACs | receptive field |" in out
    assert "| mlpconv1.0 | conv3-16 | 16×30×30 | 448 | 388,800 | 3/1/0 |" in out


def test_stats_csv_lists_every_node(run_cli):
    _, out, _ = run_cli("stats", "lenet5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows][:3] == ["input", "C1", "scaled_tanh1"]
    assert {r["name"]: int(r["params"]) for r in rows}["C3"] == 1516


def test_json_contract(run_cli):
    code, out, _ = run_cli("stats", "googlenet", "--format", "json", "-q")
    data = json.loads(out)
    assert code == 0
    assert data["network"] == "googlenet" and data["input"] == [3, 224, 224]
    assert set(data["totals"]) >= {"params", "macs", "flops", "activations"}
    assert all(isinstance(v, int) for v in data["totals"].values())
    layer_keys = {"name", "op", "text", "source", "output", "params", "macs", "rf"}
    for layer in data["layers"]:
        assert layer_keys <= set(layer)
        assert isinstance(layer["name"], str) and isinstance(layer["params"], int)
        assert len(layer["output"]) == 3 and all(isinstance(d, int) for d in layer["output"])
        file, line = layer["source"].rsplit(":", 1)
        assert file.endswith(".arch") and line.isdigit()
        if layer["rf"] is not None:
            assert {k: len(v) for k, v in layer["rf"].items()} == {"size": 2, "stride": 2, "padding": 2}
    by_name = {layer["name"]: layer for layer in data["layers"]}
    assert by_name["inception_3a"]["op"] == "concat"
    assert by_name["inception_3a"]["output"] == [256, 28, 28]
    assert by_name["inception_3a.branch2.2"]["text"] == "conv3-128"
    assert by_name["inception_3a.branch2.2"]["source"].startswith("specs/lib/inception.arch:")
    ops = {layer["op"] for layer in data["layers"]}
    assert {"input", "conv", "relu", "maxpool", "avgpool", "lrn", "concat", "fc", "dropout",
            "softmax"} <= ops
    assert sum(layer["params"] for layer in data["layers"]) == data["totals"]["params"]
    # Topological order: every input is listed before the layer that reads it.
    seen = set()
    for layer in data["layers"]:
        assert set(layer["inputs"]) <= seen
        seen.add(layer["name"])


def test_json_of_several_specs_is_a_list(run_cli):
    _, out, _ = run_cli("stats", "nin", "lenet5", "-f", "json")
    assert [d["network"] for d in json.loads(out)] == ["nin", "lenet5"]


def test_vgg_table_2_side_by_side(run_cli):
    code, out, _ = run_cli("stats", *VGG)
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert header.split() == ["vgg_a", "vgg_a_lrn", "vgg_b", "vgg_c", "vgg_d", "vgg_e"]
    table = {row[:17].strip(): row[17:].split() for row in rows if row.strip()}
    assert table["params (millions)"] == ["133", "133", "133", "134", "138", "144"]
    assert table["weight layers"] == ["11", "11", "13", "16", "16", "19"]


def test_comparison_csv(run_cli):
    _, out, _ = run_cli("stats", *VGG[:2], "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["params"]) for r in rows] == [132_863_336, 132_863_336]


def test_input_override_warns_and_skips_expects(run_cli):
    code, out, err = run_cli("stats", "alexnet", "--input", "3x224x224")
    assert code == 0  # the spec's expect lines describe 227×227 and are not checked
    assert "conv1" in err and "never read" in err and "3×227×227" in err
    assert "96×54×54" in out


def test_compile_and_graph_at_another_input(run_cli, tmp_path, monkeypatch):
    """VGG-16 for CIFAR's 32×32: the first FC layer reads 512×1×1 after five 2×2 pools."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("compile", "vgg_d", "--input", "3x32x32")
    fc6 = 512 * 4096 + 4096
    conv = 138_357_544 - (512 * 7 * 7 * 4096 + 4096) - (4096 * 4096 + 4096) - (4096 * 1000 + 1000)
    params = conv + fc6 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert code == 0 and f"{params:,} parameters" in out
    source = (tmp_path / "vgg_d.py").read_text()
    assert "INPUT_SHAPE = (3, 32, 32)" in source and "nn.Linear(512, 4096)" in source
    code, _, _ = run_cli("graph", "vgg_d", "--input", "3x32x32", "-o", "vgg.dot")
    assert code == 0 and "512×1×1" in (tmp_path / "vgg.dot").read_text()


def test_failed_expect_exits_1_and_points_at_the_line(run_cli, tmp_path):
    spec = tmp_path / "wrong.arch"
    spec.write_text("network w input 3x32x32\nconv3-16\nexpect params 449\n")
    code, out, err = run_cli("check", spec)
    assert code == 1
    assert "FAILED" in out
    assert f"{spec}:3:1: error: expect params 449 does not hold: archc computes 448" in err
    assert "    ^~~" in err
    code, out, err = run_cli("stats", spec)
    assert code == 1 and "448" in out


def test_check_every_bundled_spec(run_cli):
    code, out, err = run_cli("check", *sorted(SPECS.glob("*.arch")))
    assert code == 0
    assert out.count("ok ") == len(list(SPECS.glob("*.arch")))
    assert "warning:" in err and "disputed" in err  # GoogLeNet's ceil pools, its 1.5G budget
    code, out, err = run_cli("check", "-q", "googlenet")
    assert code == 0 and err == ""


def test_check_continues_past_a_bad_spec(run_cli, tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network b input 3x32x32\ncnov3-8\n")
    code, out, err = run_cli("check", bad, "nin")
    assert code == 2
    assert "did you mean `conv3-8`" in err
    assert out.startswith("ok ") and "nin.arch: nin, 8 of 8 expect lines hold" in out


def test_missing_spec_suggests_a_bundled_one(run_cli):
    code, _, err = run_cli("stats", "vgg_ee")
    assert code == 2
    assert err.startswith("error: no spec file `vgg_ee`") and "did you mean `vgg_e`" in err
    code, _, err = run_cli("stats", "VGG_E")  # as the paper writes it; files are lower case
    assert code == 2 and "did you mean `vgg_e`" in err


def test_bad_input_option(run_cli):
    code, _, err = run_cli("stats", "nin", "--input", "32x32")
    assert code == 2 and "not an input shape" in err


@pytest.mark.parametrize("args, message", [
    (("graph", "lenet5", "--dpi", "0"), "--dpi: expected a whole number from 1 to 1,200, not '0'"),
    (("graph", "lenet5", "--dpi", "-3"), "--dpi: expected a whole number from 1 to 1,200"),
    (("graph", "lenet5", "--dpi", "1e3"), "--dpi: expected a whole number from 1 to 1,200"),
    (("bench", "lenet5", "--batch", "0"), "--batch: expected a whole number of at least 1"),
    (("bench", "lenet5", "--runs", "-5"), "--runs: expected a whole number of at least 1"),
])
def test_numeric_options_out_of_range_are_usage_errors(run_cli, capsys, tmp_path, monkeypatch,
                                                       args, message):
    """Before, --dpi -3 drew a 32767×32766 PNG and --batch 0 quietly timed batch 2."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        run_cli(*args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_specs_lists_the_bundled_specs(run_cli):
    code, out, _ = run_cli("specs")
    assert code == 0
    for name in ("alexnet", "googlenet", "lenet5", "nin", "vgg_a", "vgg_e", "zfnet"):
        assert f"\n{name} " in "\n" + out


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, **kw)


def test_stats_does_not_import_torch():
    probe = ("import sys; from archc.cli import main; code = main(['stats', 'vgg_e', '-f', 'json']);"
             "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)")
    result = _run("-c", probe)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"network", b"network x input 0x1x1\nFC-1"])
def test_no_traceback_on_garbage(tmp_path, content):
    spec = tmp_path / "garbage.arch"
    spec.write_bytes(content)
    result = _run("-m", "archc", "check", str(spec))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_python_dash_m_and_version():
    assert _run("-m", "archc", "--version").stdout.startswith("archc ")


def test_a_spec_on_standard_input(tmp_path):
    """`-` reads the spec from standard input; errors point into `<stdin>`; a `use` path is
    relative to the working directory."""
    def piped(*args, input: bytes):
        result = subprocess.run([sys.executable, "-m", "archc", *args], input=input,
                                capture_output=True, cwd=tmp_path)
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    (tmp_path / "lib.arch").write_text("block unit(c) { conv3-c; maxpool }\n")
    spec = b"network piped input 3x32x32\nunit(16)\nFC-10\nexpect params 41,418\n"
    code, out, err = piped("stats", "-", input=b'use "lib.arch"\n' + spec)
    assert code == 0, err
    assert out.startswith("piped — <stdin> — input 3×32×32") and "41,418" in out
    code, _, err = piped("compile", "-", "-q", input=spec.replace(b"unit(16)", b"conv3-16; maxpool"))
    assert code == 0, err
    assert (tmp_path / "piped.py").read_text().splitlines()[:2] == [
        f"# Generated by archc {archc.__version__} from <stdin>.",
        "# Do not edit: change the spec and compile it again with archc."]
    code, _, err = piped("check", "-", input=b"network t input 3x8x8\ncnov3-4\n")
    assert code == 2
    assert err.startswith("<stdin>:2:1: error: unknown layer `cnov3-4`\n    cnov3-4\n    ^~~~~~~")
    code, _, err = piped("check", "-", input=b"\xff\xfe")
    assert code == 2 and err.startswith("error: cannot read standard input") and "Traceback" not in err


def test_standard_input_is_read_once(run_cli):
    with pytest.raises(SystemExit) as exit_:
        run_cli("stats", "-", "vgg_a", "-")
    assert exit_.value.code == 2
