"""One layer word → one IR layer.

Elaboration (:mod:`archc.elaborate`) finds the vocabulary kind of each layer word, replaces
block parameters, and types its options; what is left is per kind, and lives here: one
builder per kind turns what the layer says into an :mod:`archc.ir` layer, refusing what
that kind cannot mean (`pad=same` with an even kernel, a connection table whose width is not
the layer's) with an error at the place it was written.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from . import ast, ir, vocabulary
from .errors import Diagnostic, Note, SemanticError
from .vocabulary import OptionError


@dataclass(frozen=True)
class Said:
    """What one layer says about itself."""
    layer: ast.Layer                   # as parsed: its word and where everything was written
    word: Mapping[str, str]            # the parts of its word, block parameters replaced
    typed: Mapping[str, object]        # its options (defaults included), typed
    written: Mapping[str, ast.Option]  # the same options as written, for error locations


@dataclass(frozen=True)
class Declared:
    """What the rest of the spec offers a layer: its tables, and where warnings go."""
    tables: Mapping[str, ast.Table]
    warn: Callable[[Diagnostic], None]


def build(kind: str, said: Said, declared: Declared) -> ir.Layer:
    """The IR layer of vocabulary kind `kind` that `said` describes."""
    return _BUILDERS[kind](said, declared)


def _conv(said: Said, declared: Declared) -> ir.Conv:
    layer, typed, written = said.layer, said.typed, said.written
    kernel = _kernel(said, typed.get("kernel"))
    channels = word_int(said.word["channels"], layer, "channels")
    pad = typed.get("pad")
    if pad is None and (kernel[0] % 2 == 0 or kernel[1] % 2 == 0):
        declared.warn(Diagnostic(
            f"`{layer.word}` has an even kernel, so it gets no padding: \"same\" padding, "
            f"the default, needs an odd one", layer.word_loc,
            hint="say which you want: pad=valid (none), or pad=N"))
    if pad is None or pad == "same":
        if pad == "same" and (kernel[0] % 2 == 0 or kernel[1] % 2 == 0):
            raise SemanticError("`pad=same` needs an odd kernel", written["pad"].loc)
        pad = tuple(k // 2 if k % 2 else 0 for k in kernel)
    elif pad == "valid":
        pad = (0, 0)
    elif not isinstance(pad, tuple):
        pad = (pad, pad)
    connections = rows = None
    if "table" in typed:
        if typed.get("groups", 1) != 1:
            raise SemanticError("a conv layer takes either `groups` or a connection `table`",
                                written["table"].loc)
        connections, rows = _connections(typed["table"], channels, written["table"],
                                         declared.tables)
    stride = typed.get("stride", 1)
    return ir.Conv(channels, kernel, (stride, stride), pad, typed.get("groups", 1),
                   typed.get("bias", True), connections, rows)


def _connections(name: str, channels: int, opt: ast.Option, tables: Mapping[str, ast.Table]):
    """The input maps each output map reads, and how many input maps the table has."""
    table = tables.get(name)
    if table is None:
        close = difflib.get_close_matches(name, list(tables), n=1, cutoff=0.6)
        raise SemanticError(f"no table `{name}`", opt.value.loc,
                            hint=f"did you mean `{close[0]}`?" if close
                            else "define it with `table NAME { ... }`")
    columns = len(table.rows[0])
    if columns != channels:
        raise SemanticError(f"table `{name}` has {columns} columns but the layer has "
                            f"{channels} output maps", opt.value.loc,
                            notes=[Note("the table", table.loc)])
    reads = tuple(tuple(i for i, row in enumerate(table.rows) if row[j]) for j in range(columns))
    return reads, len(table.rows)


def check_table(table: ast.Table) -> None:
    """Refuse a connection table that is ragged or leaves an output map reading nothing."""
    if not table.rows:
        raise SemanticError(f"table `{table.name}` is empty", table.loc)
    width = len(table.rows[0])
    for row, loc in zip(table.rows, table.row_locs):
        if len(row) != width:
            raise SemanticError(f"this row of table `{table.name}` has {len(row)} entries, "
                                f"the first has {width}", loc)
    for j in range(width):
        if not any(row[j] for row in table.rows):
            raise SemanticError(f"column {j} of table `{table.name}` has no X: output map {j} "
                                f"would read nothing", table.loc)


def _window(said: Said) -> ir.Pair:
    """A pooling or subsampling window: from the word (`maxpool3`), else 2×2."""
    return _kernel(said, None) if "kernel" in said.word else (2, 2)


def _pool(kind: str):
    def build_pool(said: Said, declared: Declared) -> ir.Pool:
        kernel, stride = _window(said), said.typed.get("stride")
        pad = said.typed.get("pad", 0)
        return ir.Pool(kind, kernel, (stride, stride) if stride else kernel, (pad, pad),
                       said.typed.get("ceil", False))
    return build_pool


def _adaptive_avgpool(said: Said, declared: Declared) -> ir.AdaptiveAvgPool:
    size = _pair(said.word["size"], said.layer, "output size")
    if min(size) < 1:
        raise SemanticError("an adaptive pool's output size must be at least 1",
                            said.layer.word_loc)
    return ir.AdaptiveAvgPool(size)


def _channels(said: Said) -> ir.ChannelSlice:
    if "start" not in said.typed or "stop" not in said.typed:
        raise SemanticError("`channels` needs the first map and the one after the last, "
                            "e.g. `channels(0, 58)`", said.layer.word_loc)
    start, stop = said.typed["start"], said.typed["stop"]
    if stop <= start:
        raise SemanticError(f"`channels({start}, {stop})` takes no maps: the second number "
                            f"is the map after the last one taken", said.layer.loc,
                            hint=f"e.g. `channels({start}, {start + 1})` for map {start}")
    return ir.ChannelSlice(start, stop)


def _subsample(said: Said, declared: Declared) -> ir.Subsample:
    kernel, stride = _window(said), said.typed.get("stride")
    return ir.Subsample(kernel, (stride, stride) if stride else kernel)


def _fc(said: Said, declared: Declared) -> ir.Linear:
    features = word_int(said.word["features"], said.layer, "features")
    return ir.Linear(features, said.typed.get("bias", True), said.typed.get("in"))


def _lrn(said: Said, declared: Declared) -> ir.LRN:
    typed = said.typed
    convention = typed.get("convention", "paper")
    lrn = ir.LRN(typed.get("size", 5), typed.get("alpha", 1e-4), typed.get("beta", 0.75),
                 typed.get("k", 2.0), "caffe" if convention == "pytorch" else convention)
    if not math.isfinite(lrn.torch_alpha):
        alpha = said.written["alpha"].value
        raise SemanticError(f"alpha={alpha.text} is too large: times the window of "
                            f"{lrn.size}, as PyTorch takes it, it is no longer a number",
                            alpha.loc)
    return lrn


_BUILDERS: dict[str, Callable[[Said, Declared], ir.Layer]] = {
    "conv": _conv,
    "maxpool": _pool("max"),
    "avgpool": _pool("avg"),
    "gap": lambda said, declared: ir.GlobalAvgPool(),
    "adaptive_avgpool": _adaptive_avgpool,
    "subsample": _subsample,
    "fc": _fc,
    "lrn": _lrn,
    "softmax": lambda said, declared: ir.Softmax(),
    "dropout": lambda said, declared: ir.Dropout(said.typed.get("p", 0.5)),
    "channels": lambda said, declared: _channels(said),
    "shuffle": lambda said, declared: ir.ChannelShuffle(said.typed.get("groups", 2)),
    "stochastic_depth": lambda said, declared: ir.StochasticDepth(said.typed.get("p", 0.0)),
    "bn": lambda said, declared: ir.BatchNorm(said.typed.get("eps", 1e-5),
                                              said.typed.get("momentum", 0.1)),
    "activation": lambda said, declared: ir.Activation(
        vocabulary.ACTIVATION_WORDS[said.layer.word.lower()]),
    "identity": lambda said, declared: ir.Identity(),
}


# -- sizes written in a layer word ---------------------------------------------------------


def word_int(text: str, layer: ast.Layer, what: str, parameter: str | None = None) -> int:
    """A whole number ≥ 1 written in a layer word (`64` in `conv3-64`); `parameter` names
    the block parameter it came from, if any."""
    if re.fullmatch(r"[0-9]+", text):
        try:
            value = vocabulary.size(text)
        except OptionError as exc:
            raise SemanticError(f"the {what} in `{layer.word}` must be {exc}",
                                layer.word_loc) from None
        if value > 0:
            return value
    if parameter is not None:
        raise SemanticError(f"the {what} in `{layer.word}` must be a whole number of at "
                            f"least 1, but `{parameter}` is `{text}`", layer.word_loc)
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        raise SemanticError(f"`{text}` in `{layer.word}` is not a number or a parameter of "
                            f"the enclosing block", layer.word_loc)
    raise SemanticError(f"the {what} in `{layer.word}` must be a whole number of at least 1",
                        layer.word_loc)


def _pair(text: str, layer: ast.Layer, what: str) -> ir.Pair:
    """`3` → (3, 3), `3x5` → (3, 5): a size written in a layer word."""
    parts = [word_int(p, layer, what) if p.strip("0") else 0 for p in text.lower().split("x")]
    return (parts[0], parts[-1])


def _kernel(said: Said, from_option) -> ir.Pair:
    """A kernel size, from the layer's word or its `kernel=` option (not both)."""
    layer, from_word = said.layer, said.word.get("kernel")
    if from_word is not None and from_option is not None:
        raise SemanticError("the kernel size is given twice", said.written["kernel"].loc)
    if from_word is not None:
        kernel = _pair(from_word, layer, "kernel size")
    elif from_option is not None:
        kernel = (from_option, from_option)
    else:
        raise SemanticError(f"`{layer.word}` needs a kernel size", layer.word_loc,
                            hint="write it in the word, as in conv3-64, or give kernel=3")
    if min(kernel) < 1:
        raise SemanticError("a kernel size must be at least 1", layer.word_loc)
    return kernel
