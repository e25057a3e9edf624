"""An analysed network as the page shows it: every layer with its counts and its place in
the spec, every drawn group with its totals, the spec files, and the drawing itself.

:func:`network` is the one place the page's facts come from; everything in it is data
(numbers and text), which the page only ever shows as text.  The figures are those of
`archc stats` — shapes as it prints them, receptive fields as ``size/stride/padding`` —
and the saved bytes those of `archc stats --memory` at the page's settings.
"""

from __future__ import annotations

from . import svg
from .. import analysis, ir, memory, render, sources, stats
from ..verify import format_rf


def network(net: ir.Network, settings: stats.Memory, collapse: bool = False,
            detail: bool = False) -> dict:
    """The page's data for ``net`` (analysed): see the module docstring."""
    picture = render.picture(net, detail=detail, collapse=collapse)
    drawing = svg.annotate(render.render(picture.source, "svg"), picture, net)
    saved = memory.saved_by_layer(net, settings.batch, settings.dtype, settings.device)
    needs = settings.of(net)

    files: dict[str, int] = {}  # path → index in "files"
    texts: list[dict] = []

    def place(loc) -> list[int]:
        if loc is None:
            return [-1, 0, 0]
        if loc.path not in files:
            files[loc.path] = len(texts)
            texts.append({"path": loc.path, "text": loc.source.text})
        return [files[loc.path], loc.line, loc.column]

    place(net.loc)  # the spec itself is the first file
    boxes_of: dict[int, list[str]] = {}  # node id → the boxes it is drawn in
    for name, ids in picture.boxes.items():
        for node_id in ids:
            boxes_of.setdefault(node_id, []).append(name)
    rows = {node.id for node in stats.shown(net, show_all=False)}
    layers = []
    for node in net.nodes:
        info = node.info
        layers.append({
            "name": node.name, "text": node.text, "op": node.op,
            "shape": str(info.shape), "params": info.params, "macs": info.macs,
            "rf": format_rf(info.rf) if info.rf is not None else "",
            "saved": saved[node.id], "output_bytes": needs.outputs[node.id],
            "at": place(node.loc), "implicit": node.implicit, "side": node.side,
            "row": node.id in rows, "boxes": boxes_of.get(node.id, []),
        })

    boxes_at: dict[int, list[str]] = {}  # the id of the layer a box draws → its boxes
    for name, ids in picture.boxes.items():
        boxes_at.setdefault(ids[0], []).append(name)
    cluster_of = {path: name for name, path in picture.clusters.items()}
    groups = []
    for scope, parent in _clusters(net.root, picture):
        own = list(scope.node_ids())
        boxes = [name for i in own for name in boxes_at.get(i, ())]
        drawn = {i for name in boxes for i in picture.boxes[name]}  # later copies too
        nodes = [net.nodes[i] for i in sorted(drawn)]
        groups.append({
            "path": scope.path, "cluster": cluster_of[scope.path],
            "parent": parent, "kind": scope.kind, "text": scope.text,
            "copies": picture.copies.get(scope.path, 1), "boxes": boxes,
            "layers": sum(1 for n in nodes if n.id in rows and not n.implicit),
            "params": sum(n.info.params for n in nodes), "macs": sum(n.info.macs for n in nodes),
            "shape": str(net.nodes[max(own)].info.shape), "at": place(scope.loc),
        })

    whole = analysis.totals(net, inference=True)
    return {
        "name": net.name,
        "title": sources.header(net.source.text),
        "input": str(net.input),
        "totals": {"params": whole.params, "macs": whole.macs,
                   "weight_layers": whole.weight_layers,
                   "training_bytes": needs.training, "inference_bytes": needs.inference,
                   "saved_bytes": needs.saved},
        "sides": bool(net.sides),
        "svg": drawing,
        "layers": layers,
        "groups": groups,
        "files": texts,
    }


def _clusters(root: ir.Scope, picture: render.Picture):
    """(scope, the path of the drawn group around it or None) for each drawn group, outer
    ones first."""
    drawn = set(picture.clusters.values())

    def walk(scope: ir.Scope, parent: str | None):
        for child in scope.children:
            if isinstance(child, ir.Scope):
                if child.path in drawn:
                    yield child, parent
                    yield from walk(child, child.path)
                else:
                    yield from walk(child, parent)

    return list(walk(root, None))
