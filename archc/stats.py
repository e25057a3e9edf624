"""Per-layer tables and totals of analysed networks, in four formats.

``table`` and ``markdown`` are for people: they show the layers as the spec writes them
and hide the activations archc added (``--all`` shows them).  ``csv`` and ``json`` are for
tools and list every IR node.  The JSON layout is a contract::

    {"network": str, "input": [C, H, W],
     "totals": {"params": int, "macs": int, "flops": int, "activations": int, ...},
     "layers": [{"name": str, "op": str, "text": str, "source": "file:line",
                 "output": [C, H, W], "params": int, "macs": int,
                 "rf": {"size": [h, w], "stride": [h, w], "padding": [h, w]} | null, ...}]}

Given several networks, ``table``/``markdown``/``csv`` compare them side by side (VGG's
Table 2 from ``specs/vgg_*.arch``) and ``json`` is a list of the single-network objects.
"""

from __future__ import annotations

from . import analysis, ir
from .verify import format_rf

FORMATS = ("table", "markdown", "csv", "json")


def render(nets: list[ir.Network], fmt: str = "table", show_all: bool = False) -> str:
    """The report for one network, or the comparison of several."""
    if fmt == "json":
        import json

        data = [as_json(net) for net in nets]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n"
    if len(nets) == 1:
        net = nets[0]
        if fmt == "csv":
            return _csv(_layer_rows(net))
        return _layers(net, fmt, show_all)
    return _comparison(nets, fmt)


# -- JSON --------------------------------------------------------------------------------------


def _totals_json(t: analysis.Totals) -> dict:
    return {"params": t.params, "macs": t.macs, "flops": t.flops, "activations": t.neurons,
            "weights": t.weights, "biases": t.biases, "weight_layers": t.weight_layers}


def _rf_json(rf: ir.ReceptiveField | None):
    if rf is None:
        return None
    return {"size": list(rf.size), "stride": list(rf.stride), "padding": list(rf.padding)}


def as_json(net: ir.Network) -> dict:
    """The network as the JSON contract describes it (see the module docstring)."""
    names = {node.id: node.name for node in net.nodes}
    layers = []
    for node in net.nodes:
        info = node.info
        layers.append({
            "name": node.name, "op": node.op, "text": node.text,
            "source": f"{node.loc.path}:{node.loc.line}", "output": info.shape.as_list(),
            "params": info.params, "macs": info.macs, "rf": _rf_json(info.rf),
            "weights": info.weights, "biases": info.biases, "flops": info.flops,
            "activations": info.neurons, "inputs": [names[i] for i in node.inputs],
            "implicit": node.implicit, "side": node.side,
        })
    return {
        "network": net.name,
        "input": net.input.as_list(),
        "source": net.source.path,
        "totals": _totals_json(analysis.totals(net)),
        "inference": _totals_json(analysis.totals(net, inference=True)),
        "sides": [{"name": s.name, "output": names[s.node], "weight": s.weight} for s in net.sides],
        "layers": layers,
        "warnings": [w.message for w in net.warnings],
    }


# -- one network -------------------------------------------------------------------------------


def _layer_rows(net: ir.Network) -> list[dict]:
    rows = []
    for node in net.nodes:
        info = node.info
        rows.append({
            "name": node.name, "op": node.op, "text": node.text,
            "source": f"{node.loc.path}:{node.loc.line}",
            "output": "x".join(map(str, info.shape.as_list())),
            "params": info.params, "weights": info.weights, "biases": info.biases,
            "macs": info.macs, "flops": info.flops, "activations": info.neurons,
            "rf": format_rf(info.rf) if info.rf else "", "side": node.side or "",
        })
    return rows


def _shown(net: ir.Network, show_all: bool) -> list[ir.Node]:
    """The rows people see: activations archc added are left out, as the papers do."""
    return [n for n in net.nodes
            if show_all or not (n.implicit and isinstance(n.layer, ir.Activation))]


def _count(value: int) -> str:
    return f"{value:,}" if value else "-"


def _layers(net: ir.Network, fmt: str, show_all: bool) -> str:
    header = ["name", "layer", "output", "params", "MACs", "receptive field"]
    rows = []
    for node in _shown(net, show_all):
        info = node.info
        name = node.name + (" †" if node.side else "")
        rf = format_rf(info.rf) if info.rf else "?"
        rows.append([name, node.text, str(info.shape), _count(info.params),
                     _count(info.macs), rf])
    whole = analysis.totals(net)
    rows.append(["total", "", "", f"{whole.params:,}", f"{whole.macs:,}", ""])
    title = f"{net.name} — {net.source.path} — input {net.input}"
    lines = [_grid(header, rows, fmt, numeric={3, 4}, title=title)]
    lines.append("")
    lines.append(_summary(net, fmt))
    return "\n".join(lines) + "\n"


def _summary(net: ir.Network, fmt: str) -> str:
    def line(label: str, t: analysis.Totals) -> list[str]:
        return [
            f"{label}: {t.params:,} parameters ({t.weights:,} weights, {t.biases:,} biases) "
            f"in {t.weight_layers} weight layers",
            f"  {t.macs:,} MACs ({si(t.macs)}), {t.flops:,} FLOPs ({si(t.flops)}), "
            f"{t.neurons:,} neurons",
        ]
    out = line("total", analysis.totals(net))
    if net.sides:
        out += line("inference (without " + ", ".join(s.name for s in net.sides) + ")",
                    analysis.totals(net, inference=True))
        out.append("† training-only side output")
    notes = sorted({n.info.rf_note for n in net.nodes if n.info.rf_note})
    out += [f"receptive field: {note}" for note in notes]
    if fmt == "markdown":
        return "\n".join(f"{text}  " for text in out)
    return "\n".join(out)


def si(value: float, spec: str = ".2f") -> str:
    """A count in K, M, G or T (1000s), formatted by ``spec``: 15470264320 → 15.47G."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:{spec}}{suffix}"
    return str(value)


# -- several networks ------------------------------------------------------------------------


def _comparison(nets: list[ir.Network], fmt: str) -> str:
    sums = [analysis.totals(net, inference=True) for net in nets]
    metrics = [
        ("input", [str(net.input) for net in nets]),
        ("weight layers", [str(t.weight_layers) for t in sums]),
        ("params", [f"{t.params:,}" for t in sums]),
        ("params (millions)", [f"{t.params / 1e6:.0f}" for t in sums]),
        ("MACs", [f"{t.macs:,}" for t in sums]),
        ("MACs (G)", [f"{t.macs / 1e9:.2f}" for t in sums]),
        ("FLOPs (G)", [f"{t.flops / 1e9:.2f}" for t in sums]),
        ("neurons", [f"{t.neurons:,}" for t in sums]),
    ]
    if fmt == "csv":
        keys = ["network", "input", "weight_layers", "params", "macs", "flops", "activations"]
        rows = [dict(zip(keys, [net.name, "x".join(map(str, net.input.as_list())), t.weight_layers,
                                t.params, t.macs, t.flops, t.neurons]))
                for net, t in zip(nets, sums)]
        return _csv(rows)
    header = [""] + [net.name for net in nets]
    rows = [[label, *values] for label, values in metrics]
    note = ("inference figures: side outputs left out"
            if any(net.sides for net in nets) else "")
    text = _grid(header, rows, fmt, numeric=set(range(1, len(header))))
    return text + ("\n" + note + "\n" if note else "\n")


# -- layout ------------------------------------------------------------------------------------


def _grid(header: list[str], rows: list[list[str]], fmt: str, numeric: set[int],
          title: str | None = None) -> str:
    if fmt == "markdown":
        lines = [f"**{title}**", ""] if title else []
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|")
        for row in rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt_row(row):
        cells = [str(c).rjust(w) if i in numeric else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    lines = [title, ""] if title else []
    lines += [fmt_row(header), "  ".join("-" * w for w in widths)]
    lines += [fmt_row(r) for r in rows]
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
