"""`archc graph` and `archc stats --plot`: the DOT text (golden and structural), and real
SVG/PNG/PDF files drawn by Graphviz's real `dot` program."""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

import archc
from archc import render
from conftest import DATA, SPECS, assert_golden


def dot_of(name: str, **kwargs) -> str:
    return render.dot(archc.analyze(SPECS / f"{name}.arch"), **kwargs)


def boxes(source: str) -> dict[str, str]:
    """Box name → label, from DOT text."""
    return dict(re.findall(r'^\s*(n\d+(?:_\d+)?) \[label="((?:[^"\\]|\\.)*)"', source, re.M))


def test_dot_needs_graphviz_installed():
    assert shutil.which("dot"), "Graphviz's `dot` is missing: apt-get install graphviz"


@pytest.mark.parametrize("name, options", [("alexnet", {}), ("lenet5", {"detail": True}),
                                           ("vgg_e", {"collapse": True}), ("googlenet", {})])
def test_dot_golden(name, options):
    suffix = "".join(f"_{key}" for key in sorted(options))
    assert_golden(dot_of(name, **options), DATA / "graph" / f"{name}{suffix}.dot")


def test_dot_is_deterministic():
    assert dot_of("googlenet") == dot_of("googlenet")


def test_labelled_layers_show_their_label():
    labels = boxes(dot_of("lenet5")).values()
    assert [label.split(":")[0] for label in labels if ":" in label] == [
        "C1", "S2", "C3", "S4", "C5", "F6", "output"]


def test_boxes_show_the_spec_notation_and_the_shape():
    labels = boxes(dot_of("vgg_d"))
    assert "conv3-64 · relu\\n64×224×224" in labels.values()
    assert "maxpool\\n64×112×112" in labels.values()
    assert "FC-4096 · relu\\n4096" in labels.values()
    assert not any(label.startswith("relu") for label in labels.values())  # folded in


def test_detail_adds_params_macs_and_receptive_field():
    labels = boxes(dot_of("alexnet", detail=True)).values()
    assert any("conv1: conv11-96/4 pad=0 · relu\\n96×55×55\\n34,944 params · 105M MACs\\nRF 11/4/0"
               == label for label in labels)


def test_collapse_folds_repeats_and_sums_their_counts():
    source = dot_of("vgg_e", collapse=True, detail=True)
    labels = list(boxes(source).values())
    assert sum(label.count("conv3-") for label in labels) == 5
    first = next(label for label in labels if label.startswith("conv3-64"))
    assert first.startswith("conv3-64 ×2 · relu")
    assert "38,720 params" in first  # 1,792 + 36,928: the copies differ in input maps
    assert len(boxes(dot_of("vgg_e"))) > len(labels)


def test_collapse_folds_repeated_groups_into_one_cluster():
    net = archc.analyze("network t input 3x64x64\nstage { conv3-8 ×2; maxpool } ×3\nFC-10\n")
    source = render.dot(net, collapse=True)
    assert source.count("subgraph cluster_stage") == 1 and "stage_1  ×3" in source
    assert len(boxes(source)) == 4  # input, conv3-8 ×2, maxpool, FC


def test_labelled_groups_and_blocks_are_clusters():
    source = dot_of("googlenet")
    for module in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        assert f"subgraph cluster_inception_{module}" in source
    assert 'label="inception_3a: inception(64, 96, 128, 16, 32, 32)"' in source
    assert "subgraph cluster_features" in dot_of("vgg_a")


def test_inception_branches_side_by_side_into_a_concat():
    source = dot_of("googlenet")
    block = source[source.index("subgraph cluster_inception_3a"):source.index("subgraph cluster_inception_3b")]
    row = re.search(r"rank=same\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", block)
    labels = boxes(source)
    heads = [labels[name].split("\\n")[0] for name in row.groups()]
    assert heads == ["conv1-64 · relu", "conv1-96 · relu", "conv1-16 · relu", "maxpool3/1 pad=1"]
    concat = next(name for name, label in labels.items() if label == "concat\\n256×28×28")
    assert len(re.findall(rf"-> {concat}\b", source)) == 4


def test_a_product_is_drawn_as_a_sum_is_with_its_own_sign():
    net = archc.analyze("network se input 8x8x8\nr: add { se: mul { identity; { gap; "
                        "conv1-2; conv1-8 act=sigmoid } }; identity }\ngap\nFC-2\n")
    source = render.dot(net)
    assert re.search(r'\[label="×" [^]]*shape=circle', source)
    assert re.search(r'\[label="\+" [^]]*shape=circle', source)
    assert "product (gate)" in source  # the legend


def test_auxiliary_heads_are_dashed_and_training_only():
    source = dot_of("googlenet")
    assert 'label="aux1: aux_classifier(1000)  (training only, loss × 0.3)"' in source
    assert re.search(r"cluster_aux1 \{\s+[^\n]*style=\"rounded,dashed\"", source)
    aux_boxes = [name for name, label in boxes(source).items() if label.startswith("avgpool5/3")]
    assert len(aux_boxes) == 2
    assert all(re.search(rf"-> {name} \[style=dashed\]", source) for name in aux_boxes)
    assert "legend_side" in source


def test_grouped_layers_are_drawn_as_two_towers():
    source = dot_of("alexnet")
    labels = boxes(source)
    towers = sorted((name for name in labels if "_" in name),
                    key=lambda name: tuple(map(int, name[1:].split("_"))))
    # conv2, lrn2, pool2, conv4, conv5 and pool5, two boxes each: the towers go on
    # through LRN and pooling (as Figure 2 draws them) until conv3 reads both.
    assert len(towers) == 12
    assert "group 1 of 2\\n128×27×27" in labels[towers[0]]
    for layer in ("lrn2: LRN", "pool2: maxpool3/2", "pool5: maxpool3/2"):
        assert sum(labels[n].startswith(layer) for n in towers) == 2, layer
    assert not any(labels[n].startswith(("conv3", "lrn1", "pool1")) for n in towers)
    conv4 = [n for n in towers if labels[n].startswith("conv4: conv3-384 groups=2")]
    conv5 = [n for n in towers if labels[n].startswith("conv5: conv3-256 groups=2")]
    assert f"{conv4[0]} -> {conv5[0]}" in source and f"{conv4[0]} -> {conv5[1]}" not in source


def test_every_kind_has_a_colour_and_a_legend_entry():
    source = dot_of("lenet5")
    for key, word in (("input", "input"), ("conv", "convolution"), ("subsample", "subsampling"),
                      ("fc", "fully connected")):
        assert re.search(rf'legend_{key} \[label="?{word}"? fillcolor="#[0-9a-f]{{6}}"', source)


def test_spec_text_cannot_break_the_dot_syntax():
    """Whatever a label holds — quotes, backslashes, DOT escapes like \\N, braces, HTML —
    Graphviz draws it literally."""
    net = archc.analyze("network odd input 3x16x16\nconv1: conv3-8\n")
    nasty = 'conv3-8 "quoted" \\N {brace} <b>x</b> \\'
    net = dataclasses.replace(net, nodes=(net.nodes[0], dataclasses.replace(net.nodes[1], text=nasty)))
    svg = render.render(render.dot(net), "svg")
    texts = [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert f"conv1: {nasty}" in texts  # the label the spec gave it, then the text


# -- real files from the real dot ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["googlenet", "alexnet", "vgg_e", "lenet5"])
def test_svg_is_complete_vector_graphics(name, run_cli, tmp_path):
    path = tmp_path / f"{name}.svg"
    code, out, _ = run_cli("graph", name, "-o", path, "-q")
    assert code == 0 and out == f"wrote {path}\n"
    root = ElementTree.parse(path).getroot()
    width, height = (float(root.get(k).removesuffix("pt")) for k in ("width", "height"))
    box = [float(v) for v in root.get("viewBox").split()]
    assert box[:2] == [0, 0] and (box[2], box[3]) == pytest.approx((width, height), abs=1)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("input" == t for t in texts) and len(texts) > 20
    assert "Generated by archc" in path.read_text()
    assert run_cli("graph", name, "-o", path, "-q")[0] == 0  # its own file: replaced


@pytest.mark.parametrize("name", ["googlenet", "alexnet", "vgg_e", "lenet5"])
def test_png_at_a_sensible_resolution(name, run_cli, tmp_path):
    path = tmp_path / f"{name}.png"
    assert run_cli("graph", name, "-o", path, "-q", "--collapse")[0] == 0
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 300 < width < 4000 and 300 < height < 12000
    assert b"tEXtSoftware\x00archc" in data[:200]


def test_pdf_and_dot_files(run_cli, tmp_path):
    pdf = tmp_path / "g.pdf"
    assert run_cli("graph", "googlenet", "-o", pdf, "-q")[0] == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert run_cli("graph", "googlenet", "-o", pdf, "-q")[0] == 0  # its own file: replaced
    pypdf = pytest.importorskip("pypdf")
    assert len(pypdf.PdfReader(str(pdf), strict=True).pages) == 1
    dot_file = tmp_path / "g.dot"
    assert run_cli("graph", "googlenet", "-o", dot_file, "-q")[0] == 0
    rendered = subprocess.run(["dot", "-Tsvg", str(dot_file)], capture_output=True)
    assert rendered.returncode == 0


def test_without_dot_a_dot_file_still_works(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_cli("graph", "nin", "-o", tmp_path / "n.svg")
    assert code == 2 and "needs Graphviz's `dot` program" in err and "apt-get install graphviz" in err
    assert run_cli("graph", "nin", "-o", tmp_path / "n.dot")[0] == 0


def test_graph_never_clobbers_a_file_archc_did_not_write(run_cli, tmp_path):
    picture = tmp_path / "holiday.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n my holiday")
    code, _, err = run_cli("graph", "nin", "-o", picture)
    assert code == 2 and "refusing to overwrite" in err
    assert picture.read_bytes().endswith(b"my holiday")
    assert run_cli("graph", "nin", "-o", picture, "--force")[0] == 0


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf", "dot"])
def test_archc_knows_its_pictures_by_its_mark_at_its_place(run_cli, tmp_path, suffix):
    """A picture is archc's if archc's mark stands at the one place its format keeps it —
    not if the words appear anywhere: a hand-written file that mentions archc is kept."""
    from archc import output

    path = tmp_path / f"net.{suffix}"
    assert run_cli("graph", "nin", "-o", path)[0] == 0
    assert output.picture(path)
    assert run_cli("graph", "nin", "-o", path)[0] == 0  # its own: replaced without --force
    mine = {"svg": b'<?xml version="1.0"?>\n<svg><!-- Generated by archc 0.1.0 --><text>'
                   b"(archc 0.1.0) Software\x00archc drew the original</text></svg>\n",
            "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 40 + b"tEXtSoftware\x00archc 0.1.0",
            "pdf": b"%PDF-1.4\n1 0 obj << /Creator (archc 0.1.0) >> endobj\n"
                   b"2 0 obj << /Producer (me, after archc 0.1.0) >> endobj\n"
                   b"trailer << /Info 2 0 R >>\n%%EOF\n",
            "dot": b"digraph mine {}\n// Generated by archc 0.1.0 from mine.arch\n"}[suffix]
    path.write_bytes(mine)
    assert not output.picture(path)
    code, _, err = run_cli("graph", "nin", "-o", path)
    assert code == 2 and "archc did not write it" in err and path.read_bytes() == mine


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_charts_carry_the_mark_too(run_cli, tmp_path, suffix):
    from archc import output

    path = tmp_path / f"chart.{suffix}"
    assert run_cli("stats", "nin", "--plot", path, "--no-table")[0] == 0
    assert output.picture(path)


def test_unknown_picture_format(run_cli, tmp_path):
    code, _, err = run_cli("graph", "nin", "-o", tmp_path / "n.jpg")
    assert code == 2 and "use a .svg, .png, .pdf, .dot or .html file" in err


# -- archc stats --plot --------------------------------------------------------------------------


def test_plot_one_network(run_cli, tmp_path):
    path = tmp_path / "layers.png"
    code, _, err = run_cli("stats", "googlenet", "-q", "--plot", path)
    assert code == 0 and f"wrote {path}" in err
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"Software\x00archc" in data[:200]


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_plot_several_networks_like_table_2(run_cli, tmp_path, suffix):
    path = tmp_path / f"table2.{suffix}"
    specs = [SPECS / f"{n}.arch" for n in ("vgg_a", "vgg_a_lrn", "vgg_b", "vgg_c", "vgg_d", "vgg_e")]
    assert run_cli("stats", *specs, "--plot", path)[0] == 0
    assert path.stat().st_size > 1000
    assert run_cli("stats", *specs, "--plot", path)[0] == 0  # its own file: replaced


def test_plot_never_clobbers(run_cli, tmp_path):
    path = tmp_path / "mine.svg"
    path.write_text("<svg>mine</svg>")
    code, out, err = run_cli("stats", "nin", "--plot", path)
    assert code == 2 and "refusing to overwrite" in err and path.read_text() == "<svg>mine</svg>"
    assert "name another file" in err and out == ""  # said before the table, not after it


def test_plot_without_the_table(run_cli, tmp_path):
    code, out, err = run_cli("stats", "nin", "--plot", tmp_path / "c.png", "--no-table")
    assert code == 0 and out == "" and "wrote" in err


def test_a_chart_of_thousands_of_layers_names_some_and_draws_lines(tmp_path):
    """2,490 bars and as many rotated labels took matplotlib 20 s or more."""
    from matplotlib.figure import Figure

    from archc import plot

    net = archc.analyze("network t input 4x8x8\nconv3-4 ×1000\nconv3-4 ×1000\nconv3-4 ×490\n")
    figure = Figure()
    plot._per_layer(figure, net)
    top, bottom = figure.axes
    assert len(bottom.get_xticklabels()) <= plot.MAX_TICKS
    assert len(top.patches) == 1  # one outline, not 2,490 bars
    small = Figure()
    plot._per_layer(small, archc.analyze("vgg_e"))
    assert len(small.axes[0].patches) == 19 and len(small.axes[1].get_xticklabels()) == 19


def test_unknown_plot_format_is_refused_before_the_table(run_cli, tmp_path):
    code, out, err = run_cli("stats", "nin", "--plot", tmp_path / "chart.bmp")
    assert code == 2 and "use a .png, .svg or .pdf file" in err and out == ""


def test_graph_checks_expect_lines_too(run_cli, tmp_path):
    spec = tmp_path / "wrong.arch"
    spec.write_text("network w input 3x32x32\nconv3-16\nexpect params 449\n")
    code, _, err = run_cli("graph", spec, "-o", tmp_path / "w.dot")
    assert code == 1 and "does not hold" in err and (tmp_path / "w.dot").exists()


def test_residual_units_meet_in_a_sum_and_identity_shortcuts_are_edges():
    """ResNet-18 as Figure 2 draws it: each unit's branches meet in a ⊕ node (with the
    ReLU that follows beside it); an identity shortcut is an edge from the unit's input
    to the sum, not a box; a projection shortcut is its own chain of boxes."""
    source = dot_of("resnet18")
    sums = re.findall(r"\t+(n\d+) \[label=\"\+\" .*shape=circle.*xlabel=relu", source)
    assert len(sums) == 8  # 2 units in each of 4 stages
    labels = boxes(source)
    assert not any("identity" in label for label in labels.values())
    net = archc.analyze("resnet18")
    unit = net.node("layer1.1")  # an identity unit: its input is layer1.0's relu after the sum
    before = net.node("layer1.0").id
    assert f"n{before} -> n{unit.id}" in source  # the shortcut: from the last sum to this one
    assert any(label.startswith("conv1-128/2") for label in labels.values())  # the projection
    assert "cluster_layer1_0" in source and 'label="0: basic(64)"' in source
