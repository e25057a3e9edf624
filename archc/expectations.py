"""`expect` lines: the figures a spec states, parsed and typed (archc.verify checks them)."""

from __future__ import annotations

import re

from . import ast, ir, vocabulary
from .errors import Loc, SemanticError


def _error(message: str, loc: Loc | None, hint: str | None = None) -> SemanticError:
    return SemanticError(message, loc, hint=hint)


NUMERIC_METRICS = {"params": "params", "weights": "weights", "biases": "biases",
                   "macs": "macs", "flops": "flops", "activations": "neurons",
                   "neurons": "neurons", "weight-layers": "weight_layers"}
_SCALES = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30}


def parse_expect(e: ast.Expect) -> ir.Expectation:
    metric = e.metric.lower()
    loc = e.value_loc
    common = dict(target=e.target, inference=e.inference, approx=e.approx,
                  tolerance=e.tolerance, disputed=e.disputed,
                  text=_source_text(e.loc), loc=e.loc)
    if metric in NUMERIC_METRICS:
        found = re.fullmatch(r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)([KMGT]i?)?", e.value)
        if not found:
            raise _error(f"`{e.value}` is not a count", loc,
                         hint="write e.g. 138,357,544 or ≈ 133M (K, M, G; Ki = 1024)")
        digits, suffix = found.group(1).replace(",", ""), found.group(2) or ""
        if e.tolerance is not None and not e.approx:
            raise _error("a tolerance goes with `≈`", loc, hint=f"expect {e.metric} ≈ {e.value} ...")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        value = float(digits) if decimals else int(digits)
        if not e.approx and (suffix or decimals):
            raise _error(f"`{e.value}` is rounded: say `≈` for a rounded figure", loc)
        return ir.Expectation(metric=NUMERIC_METRICS[metric], value=value, scale=_SCALES[suffix],
                              decimals=decimals, **common)
    if e.approx or e.tolerance is not None:
        raise _error(f"`{metric}` is checked exactly; `≈` goes with counts", e.loc)
    if e.inference:
        raise _error(f"`inference` goes with counts, not `{metric}`", e.loc)
    if metric in ("shape", "output"):
        found = re.fullmatch(r"(\d+)(?:[x×](\d+)[x×](\d+))?", e.value)
        if not found:
            raise _error(f"`{e.value}` is not a shape", loc, hint="write C×H×W, e.g. 96x55x55")
        c, h, w = found.groups()
        value = ir.Shape(int(c), int(h or 1), int(w or 1), flat=h is None)
        return ir.Expectation(metric="shape", value=value, scale=1, decimals=0, **common)
    if metric == "rf":
        found = re.fullmatch(r"(\d+)(?:x(\d+))?/(\d+)(?:x(\d+))?/(\d+)(?:x(\d+))?", e.value)
        if not found:
            raise _error(f"`{e.value}` is not a receptive field", loc,
                         hint="write size/stride/padding, e.g. 195/32/64 (or 195x195/32x32/64x64)")
        g = [int(x) if x is not None else None for x in found.groups()]
        value = ir.ReceptiveField((g[0], g[1] or g[0]), (g[2], g[3] or g[2]), (g[4], g[5] or g[4]))
        return ir.Expectation(metric="rf", value=value, scale=1, decimals=0, **common)
    known = sorted(set(NUMERIC_METRICS) | {"shape", "rf"})
    guess = vocabulary.suggest(metric, known)
    raise _error(f"cannot expect `{e.metric}`", e.metric_loc,
                 hint=f"did you mean `{guess}`?" if guess else "one of " + ", ".join(known))


def _source_text(loc: Loc) -> str:
    line = loc.source.line(loc.line)
    return line[loc.column - 1: loc.end_column - 1 if loc.end_line == loc.line else None].strip()
