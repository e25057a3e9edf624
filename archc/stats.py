"""Per-layer tables and totals of analysed networks, in four formats.

``table`` and ``markdown`` are for people: they show the layers as the spec writes them
and hide the activations archc added (``--all`` shows them).  ``csv`` and ``json`` are for
tools and list every IR node.  The JSON layout is a contract::

    {"network": str, "input": [C, H, W],
     "totals": {"params": int, "macs": int, "flops": int, "activations": int, ...},
     "memory": {"batch": int, "dtype": str, "optimizer": str, "device": str,
                "parameters": int, "buffers": int, "gradients": int, "optimizer_state": int,
                "saved_for_backward": int, "training": int,
                "inference_activations_peak": int, "inference": int},   # bytes
     "layers": [{"name": str, "op": str, "text": str, "source": "file:line",
                 "output": [C, H, W] or [C] for a vector, "params": int, "macs": int,
                 "rf": {"size": [h, w], "stride": [h, w], "padding": [h, w]} | null,
                 "output_bytes": int, ...}]}

Given several networks, ``table``/``markdown``/``csv`` compare them side by side (VGG's
Table 2 from ``specs/vgg_*.arch``) and ``json`` is a list of the single-network objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import analysis, ir, memory
from .verify import format_rf

FORMATS = ("table", "markdown", "csv", "json")


@dataclass(frozen=True)
class Memory:
    """What to count memory for (``archc stats --batch --dtype --optimizer --device``)."""

    batch: int = 1
    dtype: str = "fp32"
    optimizer: str = "momentum"
    device: str = "cuda"

    def of(self, net: ir.Network) -> memory.Memory:
        return memory.estimate(net, self.batch, self.dtype, self.optimizer, self.device)

    def __str__(self) -> str:
        optimizer = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam"}[self.optimizer]
        where = "a GPU" if self.device == "cuda" else "the CPU"
        return f"batch {self.batch}, {self.dtype}, {optimizer}, on {where}"


def render(nets: list[ir.Network], fmt: str = "table", show_all: bool = False,
           memory: Memory | None = None) -> str:
    """The report for one network, or the comparison of several; with ``memory``, what
    each needs to run and to train (JSON has it always, at ``Memory()``'s defaults)."""
    if fmt == "json":
        import json

        data = [as_json(net, memory or Memory()) for net in nets]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n"
    if len(nets) == 1:
        net = nets[0]
        if fmt == "csv":
            return _csv(_layer_rows(net, memory))
        return _layers(net, fmt, show_all, memory)
    return _comparison(nets, fmt, memory)


# -- JSON --------------------------------------------------------------------------------------


def _totals_json(t: analysis.Totals) -> dict:
    return {"params": t.params, "macs": t.macs, "flops": t.flops, "activations": t.neurons,
            "weights": t.weights, "biases": t.biases, "weight_layers": t.weight_layers}


def _rf_json(rf: ir.ReceptiveField | None):
    if rf is None:
        return None
    return {"size": list(rf.size), "stride": list(rf.stride), "padding": list(rf.padding)}


def _memory_json(m: memory.Memory) -> dict:
    return {"batch": m.batch, "dtype": m.dtype, "optimizer": m.optimizer, "device": m.device,
            "parameters": m.parameters, "buffers": m.buffers, "gradients": m.gradients,
            "optimizer_state": m.optimizer_state, "saved_for_backward": m.saved,
            "training": m.training, "inference_activations_peak": m.inference_peak,
            "inference": m.inference}


def as_json(net: ir.Network, settings: Memory = Memory()) -> dict:
    """The network as the JSON contract describes it (see the module docstring)."""
    names = {node.id: node.name for node in net.nodes}
    needs = settings.of(net)
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
            "output_bytes": needs.outputs[node.id],
        })
    return {
        "network": net.name,
        "input": net.input.as_list(),
        "source": net.source.path,
        "totals": _totals_json(analysis.totals(net)),
        "inference": _totals_json(analysis.totals(net, inference=True)),
        "sides": [{"name": s.name, "output": names[s.node], "weight": s.weight} for s in net.sides],
        "memory": _memory_json(needs),
        "layers": layers,
        "warnings": [w.message for w in net.warnings],
    }


# -- one network -------------------------------------------------------------------------------


def _layer_rows(net: ir.Network, settings: Memory | None) -> list[dict]:
    needs = settings.of(net) if settings else None
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
            **({"output_bytes": needs.outputs[node.id]} if needs else {}),
        })
    return rows


def shown(net: ir.Network, show_all: bool) -> list[ir.Node]:
    """The rows people see: activations archc added are left out, as the papers do."""
    return [n for n in net.nodes
            if show_all or not (n.implicit and isinstance(n.layer, ir.Activation))]


def _count(value: int) -> str:
    return f"{value:,}" if value else "-"


def _layers(net: ir.Network, fmt: str, show_all: bool, settings: Memory | None) -> str:
    needs = settings.of(net) if settings else None
    header = ["name", "layer", "output", "params", "MACs", "receptive field"]
    if needs:
        header.append(f"output ×{settings.batch}")
    rows = []
    for node in shown(net, show_all):
        info = node.info
        name = node.name + (" †" if node.side else "")
        rf = format_rf(info.rf) if info.rf else "?"
        rows.append([name, node.text, str(info.shape), _count(info.params),
                     _count(info.macs), rf] + ([size(needs.outputs[node.id])] if needs else []))
    whole = analysis.totals(net)
    rows.append(["total", "", "", f"{whole.params:,}", f"{whole.macs:,}", ""]
                + ([""] if needs else []))
    title = f"{net.name} — {net.source.path} — input {net.input}"
    lines = [_grid(header, rows, fmt, numeric={3, 4, 6}, title=title)]
    lines.append("")
    lines.append(_summary(net, fmt, needs and (settings, needs)))
    return "\n".join(lines) + "\n"


def _summary(net: ir.Network, fmt: str, needs=None) -> str:
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
    if needs:
        settings, m = needs
        out += [
            f"memory ({settings}):",
            f"  to train: {size(m.training)} = parameters {size(m.parameters)} + gradients "
            f"{size(m.gradients)} + optimiser state {size(m.optimizer_state)} + buffers "
            f"{size(m.buffers)} + activations saved for the backward pass {size(m.saved)}",
            f"  to run:   {size(m.inference)} = parameters {size(m.parameters)} + buffers "
            f"{size(m.buffers)} + activations at their peak {size(m.inference_peak)}",
        ]
    if fmt == "markdown":
        return "\n".join(f"{text}  " for text in out)
    return "\n".join(out)


def size(count: float) -> str:
    """A number of bytes in binary units: 1536 → 1.5 KiB; 66,500,000,000 → 61.9 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:,.0f} B" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError


def si(value: float, spec: str = ".2f") -> str:
    """A count in K, M, G or T (1000s), formatted by ``spec``: 15470264320 → 15.47G."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:{spec}}{suffix}"
    return str(value)


# -- several networks ------------------------------------------------------------------------


def _comparison(nets: list[ir.Network], fmt: str, settings: Memory | None = None) -> str:
    sums = [analysis.totals(net, inference=True) for net in nets]
    needs = [settings.of(net) for net in nets] if settings else []
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
    if needs:
        metrics += [(f"memory to train ({settings})", [size(m.training) for m in needs]),
                    ("memory to run", [size(m.inference) for m in needs])]
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
