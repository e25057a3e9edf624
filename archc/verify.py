"""Checks a network's `expect` lines against its analysis.

`=` is exact.  `≈` compares at the precision the figure is written in — `≈ 133M` holds
for anything that rounds to 133 million, `≈ 1.5G` for 1.45G–1.55G — or within an
explicit tolerance (`≈ 650,000 ±2%`).  A `disputed` line records a paper's figure that
the paper's own layer widths contradict: it is reported, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import analysis, ir, vocabulary
from .errors import SemanticError


@dataclass(frozen=True)
class Outcome:
    expectation: ir.Expectation
    holds: bool
    actual: object
    message: str

    @property
    def failed(self) -> bool:
        return not self.holds and not self.expectation.disputed


def check(net: ir.Network) -> list[Outcome]:
    """One outcome per `expect` line; raises if a line names a layer that does not exist."""
    return [_check(net, e) for e in net.expects]


def target_nodes(net: ir.Network, name: str | None, loc=None) -> tuple[set[int], int]:
    """The node ids a name covers (a node, or every node of a scope) and its output node."""
    if name is None:
        return {n.id for n in net.nodes}, net.output
    scope = net.scope(name)  # before nodes: a concat node shares its module's name
    if scope is not None:
        ids = set(scope.node_ids())
        return ids, max(ids)
    node = net.node(name)
    if node is not None:
        return {node.id}, node.id
    names = [n.name for n in net.nodes] + [s.path for s in net.root.walk() if s.path]
    guess = vocabulary.suggest(name, names)
    raise SemanticError(f"no layer or block is called `{name}`", loc,
                        hint=f"did you mean `{guess}`?" if guess else
                        "`archc stats --all` lists every name")


def _check(net: ir.Network, e: ir.Expectation) -> Outcome:
    ids, output = target_nodes(net, e.target, e.loc)
    info = net.nodes[output].info
    if e.metric == "shape":
        actual = info.shape
        holds = (actual.channels, actual.height, actual.width) == (
            e.value.channels, e.value.height, e.value.width)
        return _outcome(e, holds, actual, str(actual))
    if e.metric == "rf":
        actual = info.rf
        if actual is None:
            return Outcome(e, False, None, f"{e.text}: the receptive field is {info.rf_note}")
        return _outcome(e, actual == e.value, actual, format_rf(actual))
    sums = analysis.totals(net, ids, inference=e.inference)
    actual = getattr(sums, e.metric)
    if not e.approx:
        holds = actual == e.value
    elif e.tolerance is not None:
        target = e.value * e.scale
        holds = abs(actual - target) <= e.tolerance * target
    else:
        holds = abs(actual / e.scale - e.value) <= 0.5 * 10 ** -e.decimals + 1e-12
    shown = f"{actual:,}"
    if e.scale != 1:
        unit = {1e3: "K", 1e6: "M", 1e9: "G", 1e12: "T", 2 ** 10: "Ki", 2 ** 20: "Mi", 2 ** 30: "Gi"}
        shown = f"{actual / e.scale:.{e.decimals + 2}f}{unit[e.scale]} ({actual:,})"
    return _outcome(e, holds, actual, shown)


def _outcome(e: ir.Expectation, holds: bool, actual, shown: str) -> Outcome:
    if holds:
        message = f"{e.text}  (archc: {shown})"
    elif e.disputed:
        message = f"{e.text}: the paper's figure; archc computes {shown} from the layer widths"
    else:
        message = f"{e.text} does not hold: archc computes {shown}"
    return Outcome(e, holds, actual, message)


def format_rf(rf: ir.ReceptiveField) -> str:
    """`195/32/64`, or per axis `195x191/32x32/64x62` when height and width differ."""
    if rf.size[0] == rf.size[1] and rf.stride[0] == rf.stride[1] and rf.padding[0] == rf.padding[1]:
        return f"{rf.size[0]}/{rf.stride[0]}/{rf.padding[0]}"
    return "/".join(f"{a}x{b}" for a, b in (rf.size, rf.stride, rf.padding))
