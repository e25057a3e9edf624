"""IR → pictures: the network drawn the way the papers draw it, with Graphviz.

:func:`dot` is pure and deterministic: the same network gives the same DOT text.  The
picture flows top to bottom; each box shows the layer as the spec writes it and its
output shape, coloured by kind (the activations and batch norms archc adds are folded
into the box of their layer, as the papers leave them out).  Labelled groups and block
instances are clusters; an Inception module's branches stand side by side and meet in a
concat box; side outputs are dashed and marked training-only; grouped convolutions
(AlexNet's two GPUs) are drawn as one box per group, so the towers show.  ``collapse``
folds the copies written with `×N` into one box (or cluster) marked `×N`.

:func:`render` hands the DOT text to Graphviz's `dot` program for SVG, PNG or PDF.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass

from . import analysis, extras, ir, limits, output
from .errors import UsageError, one_line
from .stats import si
from .verify import format_rf

FORMATS = ("dot", "gv", "svg", "png", "pdf")

MAX_TOWERS = 4
"""A grouped convolution of more groups (a depthwise one, say) is drawn as one box."""

# Fill colours by kind of layer, and the legend's words for them.
_KINDS = {
    "input": ("#ffffff", "input"),
    "conv": ("#cfe2f3", "convolution"),
    "pool": ("#fce5cd", "pooling"),
    "subsample": ("#d0e0e3", "subsampling"),
    "fc": ("#d9d2e9", "fully connected"),
    "norm": ("#fff2cc", "normalisation"),
    "activation": ("#eeeeee", "activation"),
    "dropout": ("#f3f3f3", "dropout"),
    "softmax": ("#f4cccc", "soft-max"),
    "concat": ("#d9ead3", "concat"),
    "add": ("#d9ead3", "sum (residual)"),
    "mul": ("#d9ead3", "product (gate)"),
}


def _kind(layer: ir.Layer) -> str:
    if isinstance(layer, (ir.Pool, ir.GlobalAvgPool, ir.AdaptiveAvgPool)):
        return "pool"
    if isinstance(layer, (ir.LRN, ir.BatchNorm)):
        return "norm"
    return {"input": "input", "conv": "conv", "subsample": "subsample", "fc": "fc",
            "dropout": "dropout", "stochastic_depth": "dropout", "softmax": "softmax", "concat": "concat",
            "add": "add", "mul": "mul"}.get(layer.op, "activation")


@dataclass
class _Box:
    """One drawn box: a node, with what is folded into it."""

    node: ir.Node
    text: list[str]
    params: int
    macs: int
    shape: ir.Shape
    rf: ir.ReceptiveField | None
    towers: int = 1
    copies: int = 1
    folded: tuple[str, ...] = ()  # the activations and bns archc added, drawn in this box


class _Drawing:
    def __init__(self, net: ir.Network, detail: bool, collapse: bool):
        self.net, self.detail, self.collapse = net, detail, collapse
        self.rep: dict[int, int] = {}  # node id → the id of the box it is drawn in
        self.boxes: dict[int, _Box] = {}
        self.scope_copies: dict[str, int] = {}  # cluster path → how many copies it stands for
        self._fold()

    # -- which node is drawn where ---------------------------------------------------------

    def _copies(self) -> list[dict[int, list[int]]]:
        """For everything written with ×N, the node ids of each copy: {copy index: [ids]}.
        A node can be in two of them (`stage { conv3-64 ×2 } ×3`)."""
        groups: dict[tuple, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))

        def walk(scope: ir.Scope, marks: tuple):
            if scope.repeat is not None:
                marks = marks + (("scope", scope.repeat),)
            for child in scope.children:
                if isinstance(child, ir.Scope):
                    walk(child, marks)
                    continue
                repeat = self.net.nodes[child].repeat
                own = (("node", repeat),) if repeat is not None else ()
                for kind, mark in marks + own:
                    groups[(kind, mark.group)][mark.index].append(child)

        walk(self.net.root, ())
        return list(groups.values())

    def _fold(self):
        first_copy: dict[int, int] = {}  # node id → the same node in the first copy
        if self.collapse:
            for copies in self._copies():
                first = copies[0]
                for ids in copies.values():
                    for position, node_id in enumerate(ids):
                        if node_id not in first:
                            first_copy[node_id] = first[position]
            for scope in self.net.root.walk():
                if scope.repeat is not None and scope.repeat.index == 0:
                    self.scope_copies[scope.path] = scope.repeat.count
        for node in self.net.nodes:
            target = node.id
            while target in first_copy:  # outer copies first, then inner ones
                target = first_copy[target]
            if target != node.id:  # a later copy: counted in, and drawn as, the first
                box = self.boxes[self.rep[target]]
                self.rep[node.id] = self.rep[target]
                box.params += node.info.params
                box.macs += node.info.macs
                box.shape, box.rf = node.info.shape, node.info.rf
                continue
            if node.implicit and node.inputs:  # an activation or bn archc added
                box = self.boxes[self.rep[node.inputs[0]]]
                box.folded += (node.text,)
                box.params += node.info.params
                box.shape, box.rf = node.info.shape, node.info.rf
                self.rep[node.id] = self.rep[node.inputs[0]]
                continue
            if isinstance(node.layer, ir.Identity):  # a shortcut: an edge, not a box
                self.rep[node.id] = self.rep[node.inputs[0]]
                continue
            self.rep[node.id] = node.id
            count = node.repeat.count if (self.collapse and node.repeat) else 1
            self.boxes[node.id] = _Box(node, [node.text], node.info.params, node.info.macs,
                                       node.info.shape, node.info.rf, copies=count)
        self._towers()

    def _towers(self):
        """Grouped convolutions (of up to MAX_TOWERS groups) split into one box per group;
        the layers after them stay split, until one that mixes channels across the
        towers joins them again.  LRN stays split, as AlexNet's Figure 2 draws it (and as
        each GPU normalised its own maps), though archc's window reaches size//2 maps
        across the border between groups."""
        per_channel = (ir.Activation, ir.Pool, ir.Dropout, ir.StochasticDepth, ir.BatchNorm,
                   ir.Subsample, ir.LRN)
        for box in self.boxes.values():
            layer = box.node.layer
            if isinstance(layer, ir.Conv) and 1 < layer.groups <= MAX_TOWERS:
                box.towers = layer.groups
            elif isinstance(layer, per_channel) and box.node.inputs:
                box.towers = self.boxes[self.rep[box.node.inputs[0]]].towers

    # -- DOT ---------------------------------------------------------------------------------

    def box_ids(self, box_id: int) -> list[str]:
        towers = self.boxes[box_id].towers
        return [f"n{box_id}"] if towers == 1 else [f"n{box_id}_{t}" for t in range(towers)]

    def label(self, box: _Box, tower: int | None) -> str:
        text = [re.sub(r" (bias_init|std)=\S+", "", line) for line in box.text]  # not architecture
        if box.node.labelled:  # the spec's own name for it, as the papers' figures print
            text[0] = f"{box.node.name.rsplit('.', 1)[-1]}: {text[0]}"
        if box.copies > 1:
            text[0] += f" ×{box.copies}"
        text[0] += "".join(f" · {extra}" for extra in box.folded)
        shape = box.shape
        if tower is not None:
            text.append(f"group {tower + 1} of {box.towers}")
            shape = ir.Shape(shape.channels // box.towers, shape.height, shape.width, shape.flat)
        text.append(str(shape))
        if self.detail:
            share = box.towers if tower is not None else 1
            params, macs = box.params // share, box.macs // share
            counts = []
            if params:
                counts.append(f"{params:,} params")
            if macs:
                counts.append(f"{si(macs, '.3g')} MACs")
            if counts:
                text.append(" · ".join(counts))
            if box.rf is not None:
                text.append(f"RF {format_rf(box.rf)}")
        return _text(text)


def _graphviz():
    return extras.need("graphviz", "graph", "drawing a network")


def _text(lines: list[str]):
    """Lines as one DOT label: each escaped (no backslash or <...> means anything), joined
    with DOT's own line break."""
    graphviz = _graphviz()

    return graphviz.nohtml("\\n".join(graphviz.escape(line) for line in lines))


@dataclass(frozen=True)
class Picture:
    """A network's drawing: its DOT source, and what each drawn element stands for — the
    key to pointing at a layer in the picture (:mod:`archc.view`)."""

    source: str
    boxes: dict[str, tuple[int, ...]]
    """DOT node name → the ids of the nodes drawn in that box, the layer as written first
    (then the activations and batch norms folded into it, and, collapsed, later copies);
    a grouped convolution drawn as towers has one box per tower, each naming it.  An
    identity shortcut is drawn in no box (it is an edge)."""
    clusters: dict[str, str]
    """DOT cluster name → the path of the scope it draws (a labelled group, a block
    instance, a join, a side output)."""
    copies: dict[str, int]
    """Scope path → how many copies its cluster stands for (collapsed `×N`), where more
    than one."""


def dot(net: ir.Network, detail: bool = False, collapse: bool = False) -> str:
    """The DOT source of the network's picture (see the module docstring)."""
    return picture(net, detail, collapse).source


def picture(net: ir.Network, detail: bool = False, collapse: bool = False) -> Picture:
    """The network's drawing, with the key to its elements (see :class:`Picture`)."""
    graphviz = _graphviz()

    from . import __version__

    if not net.analysed:
        net = analysis.analyze(net)
    drawing = _Drawing(net, detail, collapse)
    whole = analysis.totals(net, inference=True)
    title = (f"{net.name}   input {net.input}   {whole.params:,} parameters · "
             f"{si(whole.macs, '.3g')} MACs" + ("   (without side outputs)" if net.sides else ""))
    # The first line, `// Generated by archc ...`, is how archc knows its .dot files
    # (archc.output); the file name is escaped as DOT escapes a backslash.
    name = graphviz.escape(one_line(os.path.basename(net.source.path)))
    graph = graphviz.Digraph(net.name, comment=f"Generated by archc {__version__} from {name}")
    graph.attr("graph", rankdir="TB", label=_text([title]), labelloc="t", fontname="Helvetica",
               fontsize="14", nodesep="0.25", ranksep="0.3", newrank="true",
               ordering="out")
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10",
               penwidth="0.8", margin="0.12,0.05")
    graph.attr("edge", arrowsize="0.6", color="#555555")

    placed: dict[str, list[int]] = defaultdict(list)  # cluster path → boxes drawn in it
    clusters = _cluster_paths(net, drawing)
    cluster_names = _cluster_names(net, clusters)
    for box_id, box in drawing.boxes.items():
        placed[_innermost(box.node.name, clusters)].append(box_id)

    side_boxes = {box_id for box_id, box in drawing.boxes.items() if box.node.side}

    def emit_boxes(target, path: str):
        for box_id in placed.get(path, []):
            box = drawing.boxes[box_id]
            colour = _KINDS[_kind(box.node.layer)][0]
            style = "rounded,filled,dashed" if box.node.side else "rounded,filled"
            ids = drawing.box_ids(box_id)
            if isinstance(box.node.layer, ir.Add):  # ⊕ (⊗), with what follows beside it
                extra = {"xlabel": _text([" · ".join(box.folded)])} if box.folded else {}
                sign = "×" if isinstance(box.node.layer, ir.Mul) else "+"
                target.node(ids[0], sign, shape="circle", fillcolor=colour, style="filled",
                            fontsize="12", width="0.3", fixedsize="true", **extra)
                continue
            if len(ids) == 1:
                target.node(ids[0], drawing.label(box, None), fillcolor=colour,
                            style=style)
                continue
            # The towers side by side: an anonymous `{ rank=same ... }`, written into the
            # body directly (a subgraph object per row costs more than the row itself).
            target.body.append("\t{\n\t\trank=same\n")
            for tower, name in enumerate(ids):
                target.node(name, drawing.label(box, tower), fillcolor=colour, style=style)
                target.body[-1] = "\t" + target.body[-1]  # indented inside the braces
            target.body.append("\t}\n")

    def emit_scope(target, scope: ir.Scope):
        for child in scope.children:
            if not isinstance(child, ir.Scope):
                continue
            if child.path in clusters:
                with target.subgraph(name=cluster_names[child.path]) as cluster:
                    cluster.attr(label=_text([_cluster_label(net, child, drawing)]),
                                 labeljust="l", fontsize="11", fontname="Helvetica",
                                 style="rounded,dashed" if child.kind == "side" else "rounded",
                                 color="#999999", fontcolor="#333333")
                    emit_boxes(cluster, child.path)
                    emit_scope(cluster, child)
                    if child.kind in ("concat", "add", "mul"):
                        _branches_in_order(cluster, child, drawing)
            else:
                emit_scope(target, child)

    emit_boxes(graph, "")
    emit_scope(graph, net.root)

    edges: dict[tuple[str, str, bool], None] = {}  # drawn once each, in order
    for node in net.nodes:
        if node.id not in drawing.boxes:
            continue
        for src in node.inputs:
            a, b = drawing.rep[src], drawing.rep[node.id]
            if a == b:
                continue
            dashed = b in side_boxes or a in side_boxes
            for tail, head in _tower_edges(drawing, a, b):
                edges[(tail, head, dashed)] = None
    for tail, head, dashed in edges:
        graph.edge(tail, head, **({"style": "dashed"} if dashed else {}))

    kinds = []
    for box in drawing.boxes.values():
        kind = _kind(box.node.layer)
        if kind not in kinds:
            kinds.append(kind)
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", style="rounded", color="#cccccc", fontsize="10",
                    fontname="Helvetica")
        names = [f"legend_{kind}" for kind in kinds]
        for kind, name in zip(kinds, names):
            legend.node(name, _text([_KINDS[kind][1]]), fillcolor=_KINDS[kind][0], fontsize="9")
        if net.sides:
            legend.node("legend_side", "training only", style="rounded,dashed", fontsize="9")
            names.append("legend_side")
        for a, b in zip(names, names[1:]):
            legend.edge(a, b, style="invis")
    members: dict[int, list[int]] = defaultdict(list)  # box id → the nodes drawn in it
    for node in net.nodes:
        if not isinstance(node.layer, ir.Identity):  # a shortcut is an edge, drawn in no box
            members[drawing.rep[node.id]].append(node.id)
    boxes = {name: tuple(members[box_id])
             for box_id in drawing.boxes for name in drawing.box_ids(box_id)}
    return Picture(graph.source, boxes, {name: path for path, name in cluster_names.items()},
                   {p: n for p, n in drawing.scope_copies.items() if n > 1 and p in clusters})


def _branches_in_order(cluster, scope: ir.Scope, drawing: _Drawing):
    """The first box of each branch on one rank, in the spec's order (dot's crossing
    minimisation would otherwise shuffle them inside a cluster)."""
    join = next(drawing.net.nodes[c] for c in scope.children
                if isinstance(c, int) and isinstance(drawing.net.nodes[c].layer, ir.JOINS))
    heads = []
    for chain in drawing.net.branches(join):
        ids = [i for part in chain
               for i in (part.node_ids() if isinstance(part, ir.Scope) else (part,))]
        boxes = [i for i in ids if i in drawing.boxes]
        if boxes:
            heads.append(drawing.box_ids(boxes[0])[0])
    if len(heads) < 2:
        return
    with cluster.subgraph() as row:
        row.attr(rank="same")
        for head in heads:
            row.node(head)
        for a, b in zip(heads, heads[1:]):
            row.edge(a, b, style="invis")


def _tower_edges(drawing: _Drawing, a: int, b: int) -> list[tuple[str, str]]:
    tails, heads = drawing.box_ids(a), drawing.box_ids(b)
    if len(tails) == len(heads) and len(tails) > 1 and drawing.boxes[b].towers > 1 \
            and not (isinstance(drawing.boxes[b].node.layer, ir.Conv)
                     and drawing.boxes[b].node.layer.groups != len(tails)):
        return list(zip(tails, heads))  # tower i feeds tower i
    return [(t, h) for t in tails for h in heads]


def _cluster_paths(net: ir.Network, drawing: _Drawing) -> set[str]:
    """The scopes drawn as clusters: labelled groups, block instances, concats and side
    outputs — branches are not (they show as chains side by side); later copies of a
    collapsed repeat are not drawn at all."""
    chosen = set()
    for scope in net.root.walk():
        if scope.kind in ("group", "block", "concat", "add", "mul", "side") and scope.path:
            if drawing.collapse and scope.repeat is not None and scope.repeat.index > 0:
                continue
            if any(node_id in drawing.boxes for node_id in scope.node_ids()):
                chosen.add(scope.path)
    return chosen


def _innermost(name: str, clusters: set[str]) -> str:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in clusters:
            return prefix
    return ""


def _cluster_names(net: ir.Network, clusters: set[str]) -> dict[str, str]:
    """Scope path → its DOT cluster's name: `cluster_` and the path, spelled in letters,
    digits and `_` (and numbered where two paths would spell the same)."""
    names: dict[str, str] = {}
    taken = {"cluster_legend"}
    for scope in net.root.walk():
        if scope.path not in clusters:
            continue
        base = "cluster_" + "".join(c if c.isalnum() else "_" for c in scope.path)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[scope.path] = name
    return names


def _cluster_label(net: ir.Network, scope: ir.Scope, drawing: _Drawing) -> str:
    label = scope.path.rsplit(".", 1)[-1]
    if scope.text and scope.text != label and scope.kind != "side" and scope.text != "concat":
        label += f": {scope.text}"
    elif scope.kind == "side" and scope.text and scope.text != "side":
        label += f": {scope.text}"
    copies = drawing.scope_copies.get(scope.path, 1)
    if copies > 1:
        label += f"  ×{copies}"
    if scope.kind == "side":
        side = next(s for s in net.sides if s.name == scope.path)
        weight = f", loss × {side.weight:g}" if side.weight is not None else ""
        label += f"  (training only{weight})"
    return label


# -- rendering -----------------------------------------------------------------------------------

def render(source: str, fmt: str, dpi: int = 144) -> bytes:
    """The picture in ``fmt`` (svg, png, pdf), drawn by Graphviz's `dot` program."""
    import shutil
    import subprocess

    from . import __version__

    program = shutil.which("dot")
    if program is None:
        raise UsageError(
            f"drawing a .{fmt} needs Graphviz's `dot` program, which is not installed",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
                 "install graphviz); -o FILE.dot works without it")
    args = [f"-Gdpi={dpi}"] if fmt == "png" else []
    try:
        done = subprocess.run([program, f"-T{fmt}", *args], input=source.encode(),
                              capture_output=True, check=False, timeout=limits.RENDER_SECONDS)
    except subprocess.TimeoutExpired:
        raise UsageError(f"Graphviz's `dot` took more than {limits.RENDER_SECONDS} s to draw "
                         f"this network, and was stopped",
                         hint="draw repeated layers once with --collapse, or write a .dot "
                              "file and run `dot` on it yourself") from None
    if done.returncode != 0:
        raise UsageError(f"Graphviz could not draw the network: {done.stderr.decode().strip()}")
    return output.mark(done.stdout, fmt, __version__)
