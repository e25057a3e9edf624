"""The interactive page without a browser: what the drawing marks, what the page holds and
does not hold, the saved bytes it shows, `archc graph -o FILE.html` and the notebook
hooks.  tests/test_view_browser.py drives the same pages in Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET

import pytest

import archc
from archc import ir, memory, render, stats, view
from archc.view import page, svg
from conftest import SPECS

SVG_NS = "{http://www.w3.org/2000/svg}"


def drawing(name: str, collapse: bool = False) -> tuple[ir.Network, ET.Element]:
    net = archc.analyze(SPECS / f"{name}.arch")
    picture = render.picture(net, collapse=collapse)
    text = svg.annotate(render.render(picture.source, "svg"), picture, net)
    return net, ET.fromstring(text)


def drawn_layers(net: ir.Network) -> set[str]:
    """The layers a drawing has a box for, from the IR alone: every layer the spec wrote
    (the activations and batch norms archc adds are folded into their layer's box; an
    identity shortcut is an edge)."""
    return {n.name for n in net.nodes if not n.implicit and not isinstance(n.layer, ir.Identity)}


def drawn_groups(net: ir.Network) -> set[str]:
    return {s.path for s in net.root.walk()
            if s.kind in ("group", "block", "concat", "add", "mul", "side") and s.path
            and any(n in {m.id for m in net.nodes if m.name in drawn_layers(net)}
                    for n in s.node_ids())}


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50", "lenet5", "vgg_e"])
def test_every_layer_and_group_is_marked(name):
    net, root = drawing(name)
    layers = {g.get("data-layer") for g in root.iter(f"{SVG_NS}g") if g.get("data-layer")}
    groups = {g.get("data-group") for g in root.iter(f"{SVG_NS}g") if g.get("data-group")}
    assert layers == drawn_layers(net)
    assert groups == drawn_groups(net)
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("data-layer") or g.get("data-group"):
            assert g.get("tabindex") == "0" and g.get("aria-label")


def test_towers_name_their_layer():
    _, root = drawing("alexnet")
    towers = [g for g in root.iter(f"{SVG_NS}g") if g.get("data-layer") == "conv2"]
    assert sorted(g.get("data-tower") for g in towers) == ["0", "1"]


def test_edges_name_the_boxes_they_join():
    net, root = drawing("resnet18")
    boxes = {g.get("data-box") for g in root.iter(f"{SVG_NS}g") if g.get("data-box")}
    edges = [g for g in root.iter(f"{SVG_NS}g") if "edge" in (g.get("class") or "")]
    assert edges and all(e.get("data-tail") in boxes and e.get("data-head") in boxes for e in edges)


def test_graphviz_tooltips_and_ids_are_gone():
    _, root = drawing("googlenet")
    assert not list(root.iter(f"{SVG_NS}title"))
    assert not any(e.get("id") for e in root.iter())


def test_the_drawing_keeps_only_drawing():
    hostile = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     onload="alert(1)" width="10pt" height="10pt" viewBox="0 0 10 10">
<g class="graph" style="fill: red"><title>x</title>
<script>alert(2)</script>
<a xlink:href="javascript:alert(3)"><text x="1" y="1">link</text></a>
<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
<g class="node" onclick="alert(4)"><title>n0</title><path d="M0,0" fill="red"/>
<text x="1" y="2" onmouseover="alert(5)">conv</text></g>
<image href="http://example.com/x.png"/>
</g></svg>"""
    net = archc.analyze("network t input 1x4x4\nFC-2\n")
    picture = render.Picture("", {"n0": (1,)}, {}, {})
    text = svg.annotate(hostile, picture, net)
    for word in ("alert", "script", "href", "foreignObject", "style", "image", "onload",
                 "onclick", "example.com"):
        assert word not in text
    assert 'data-layer="fc"' in text and ">conv<" in text


# -- the page --------------------------------------------------------------------------------


def page_of(*names: str, **options) -> str:
    return view.html([archc.analyze(SPECS / f"{n}.arch") for n in names], **options)


def inline(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}(?: [^>]*)?>(.*?)</{tag}>", text, re.S)


def csp(text: str) -> str:
    return html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"',
                                   text).group(1))


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_is_self_contained_and_says_so():
    text = page_of("googlenet")
    policy = csp(text)
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 1 and f"script-src {sha256(scripts[0])}" in policy
    (style,) = inline(text, "style")
    assert f"style-src {sha256(style)}" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # Nothing refers to anything outside the page (but the icon, which is empty data).
    assert not re.search(r"(?<![\w-])(?:src|href|action|formaction)\s*=\s*[\"'](?!data:)", text)
    assert "@import" not in text and "url(" not in style


def test_the_live_page_may_reach_only_its_own_origin():
    assert "connect-src 'self'" in page.policy(live=True)
    assert "connect-src 'none'" in page.policy(live=False)


def test_data_cannot_end_its_script_element():
    data = {"text": "</script><script>alert(1)</script><!-- \u2028 &amp;"}
    encoded = page.script_json(data)
    assert "<" not in encoded and ">" not in encoded and "&" not in encoded
    assert json.loads(encoded) == data


def page_data(text: str) -> dict:
    (encoded,) = re.findall(r'<script type="application/json" id="archc-data">(.*?)</script>',
                            text, re.S)
    return json.loads(encoded)


def test_the_page_holds_what_stats_counts():
    net = archc.analyze(SPECS / "alexnet.arch")
    data = page_data(page_of("alexnet"))
    (network,) = data["networks"]
    conv1 = next(layer for layer in network["layers"] if layer["name"] == "conv1")
    # AlexNet's conv1: 96 kernels of 11×11×3 and a bias each, over a 55×55 output.
    assert conv1["params"] == 96 * (11 * 11 * 3 + 1)
    assert conv1["macs"] == 96 * 55 * 55 * 11 * 11 * 3
    assert (conv1["shape"], conv1["rf"]) == ("96×55×55", "11/4/0")
    assert network["files"][conv1["at"][0]]["path"] == net.source.path
    assert network["totals"]["params"] == 60_965_224  # the paper's two-GPU network
    assert [layer["name"] for layer in network["layers"]] == [n.name for n in net.nodes]


def test_groups_carry_their_totals():
    import torchvision

    data = page_data(page_of("resnet18"))
    groups = {g["path"]: g for g in data["networks"][0]["groups"]}
    model = torchvision.models.resnet18()
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        assert groups[stage]["params"] == sum(p.numel() for p in getattr(model, stage).parameters())
        assert groups[stage]["parent"] is None
    assert groups["layer2.0"]["parent"] == "layer2"
    assert groups["layer2"]["shape"] == "128×28×28"


def test_collapsed_groups_count_every_copy():
    data = page_data(page_of("resnet50", collapse=True))
    groups = {g["path"]: g for g in data["networks"][0]["groups"]}
    expanded = {g["path"]: g for g in page_data(page_of("resnet50"))["networks"][0]["groups"]}
    # layer3.1 stands for layer3.1 … layer3.5 (ResNet-50's conv4_x has six units)
    assert groups["layer3.1"]["copies"] == 5
    assert groups["layer3.1"]["params"] == sum(expanded[f"layer3.{i}"]["params"] for i in range(1, 6))
    assert data["collapse"] is True


# -- saved bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50", "lenet5", "nin"])
@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_saved_by_layer_adds_up_to_the_total(name, device):
    net = archc.analyze(SPECS / f"{name}.arch")
    per_layer = memory.saved_by_layer(net, batch=3, dtype="bf16", device=device)
    assert sum(per_layer.values()) == memory.estimate(net, 3, "bf16", device=device).saved


def test_a_layers_saved_bytes_are_its_output_kept_and_what_it_saves():
    net = archc.analyze(SPECS / "alexnet.arch")
    saved = {net.nodes[i].name: b for i, b in memory.saved_by_layer(net).items()}
    # conv1's output (96×55×55 floats) is kept: ReLU runs in place on it and saves it,
    # and LRN saves it as its input.
    assert saved["conv1"] == 96 * 55 * 55 * 4
    # pool1 keeps its output (conv2's input) and its argmax indices (int64 each).
    assert saved["pool1"] == 96 * 27 * 27 * 4 + 96 * 27 * 27 * 8


# -- archc graph -o FILE.html -----------------------------------------------------------------


def test_graph_writes_a_page(run_cli, tmp_path):
    out = tmp_path / "net.html"
    code, stdout, _ = run_cli("graph", SPECS / "lenet5.arch", "-o", out, "-q")
    assert code == 0 and f"wrote {out}" in stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>\n<!-- Generated by archc ")
    assert page_data(text)["networks"][0]["name"] == "lenet5"
    code, _, _ = run_cli("graph", SPECS / "alexnet.arch", "-o", out, "-q")
    assert code == 0  # archc's own page is replaced


def test_graph_never_replaces_a_page_archc_did_not_write(run_cli, tmp_path):
    out = tmp_path / "mine.html"
    out.write_text("<!DOCTYPE html>\n<p>my notes</p>\n")
    code, _, stderr = run_cli("graph", SPECS / "lenet5.arch", "-o", out, "-q")
    assert code == 2 and "archc did not write it" in stderr
    assert out.read_text() == "<!DOCTYPE html>\n<p>my notes</p>\n"


def test_several_specs_share_one_page(run_cli, tmp_path):
    out = tmp_path / "cmp.html"
    code, _, _ = run_cli("graph", SPECS / "vgg_a.arch", SPECS / "vgg_e.arch", "-o", out, "-q")
    assert code == 0
    assert [n["name"] for n in page_data(out.read_text())["networks"]] == ["vgg_a", "vgg_e"]


def test_several_specs_cannot_share_one_picture(run_cli, tmp_path):
    code, _, stderr = run_cli("graph", SPECS / "vgg_a.arch", SPECS / "vgg_e.arch",
                              "-o", tmp_path / "x.svg", "-q")
    assert code == 2
    assert "2 specs cannot be drawn into one .svg picture" in stderr and "FILE.html" in stderr
    assert not (tmp_path / "x.svg").exists()


def test_page_settings_count_the_saved_bytes(run_cli, tmp_path):
    out = tmp_path / "net.html"
    run_cli("graph", SPECS / "alexnet.arch", "-o", out, "--batch", "8", "--dtype", "fp16", "-q")
    data = page_data(out.read_text())
    conv1 = next(x for x in data["networks"][0]["layers"] if x["name"] == "conv1")
    assert conv1["saved"] == 8 * 96 * 55 * 55 * 2
    assert data["memory"]["text"].startswith("batch 8, fp16")


def test_view_refuses_standard_input_and_missing_files(run_cli, tmp_path):
    code, _, stderr = run_cli("view", "-")
    assert code == 2 and "standard input" in stderr
    code, _, stderr = run_cli("view", tmp_path / "nothing.arch", "--no-open")
    assert code == 2 and "no spec file" in stderr


# -- notebooks ----------------------------------------------------------------------------------


class _Printer:
    def __init__(self):
        self.parts = []

    def text(self, text):
        self.parts.append(text)


def test_an_analysed_network_shows_its_stats_table_as_text():
    net = archc.analyze(SPECS / "alexnet.arch")
    printer = _Printer()
    net._repr_pretty_(printer, False)
    (text,) = printer.parts
    assert text == stats.render([net]).rstrip("\n")
    assert "60,965,224" in text


def test_an_analysed_network_shows_its_page_in_a_frame_of_its_own():
    net = archc.analyze(SPECS / "lenet5.arch")
    frame = net._repr_html_()
    assert frame.startswith("<iframe ") and 'sandbox="allow-scripts"' in frame
    assert "allow-same-origin" not in frame
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert srcdoc == view.Graph(net).html()
    assert page_data(srcdoc)["networks"][0]["name"] == "lenet5"


def test_archc_graph_returns_what_jupyter_displays(tmp_path):
    graph = archc.graph(SPECS / "vgg_a.arch", SPECS / "vgg_b.arch", batch=4)
    assert "<iframe " in graph._repr_html_()
    assert [n["name"] for n in page_data(graph.html())["networks"]] == ["vgg_a", "vgg_b"]
    graph.save(tmp_path / "g.html")
    assert (tmp_path / "g.html").read_text() == graph.html()
    with pytest.raises(archc.UsageError):
        archc.graph("lenet5", dtype="fp64")


def test_view_says_when_its_port_is_taken(run_cli, tmp_path):
    import socket

    spec = tmp_path / "net.arch"
    spec.write_text("network t input 3x8x8\nconv3-4\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, stderr = run_cli("view", spec, "--no-open", "--port", port)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in stderr and "--port 0" in stderr
