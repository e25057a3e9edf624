"""The abstract syntax tree: what a spec says, before archc decides what it means.

Produced by :mod:`archc.parser`, consumed by :mod:`archc.elaborate`.  Every node keeps
the :class:`~archc.errors.Loc` it came from so later stages can point back at it.
Layer words (`conv3-64`, `FC-4096`) are kept as written; the vocabulary that gives
them meaning lives in :mod:`archc.vocabulary`.  Nodes compare by identity: two
`conv3-64` written on different lines are different nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import Loc, Source


@dataclass(frozen=True, eq=False)
class Value:
    """A number or a word as written: `64`, `1e-4`, `40%`, `true`, `n3x3red`."""

    text: str
    loc: Loc


@dataclass(frozen=True, eq=False)
class Option:
    """`key=value`, or a bare flag such as `ceil` (value None)."""

    key: str
    value: Value | None
    loc: Loc


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer word with its arguments: `conv11-96/4 pad=0`, `dropout(0.4)`, `inception(...)`."""

    word: str
    word_loc: Loc
    args: tuple[Value, ...]
    keywords: tuple[Option, ...]  # name=value inside the parentheses
    stride: Value | None  # the `/4` in `conv11-96/4`
    options: tuple[Option, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Group:
    """`name { ... }`: a named sequence (a module in generated code); anonymous groups inline."""

    name: str | None
    body: tuple["Item", ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Concat:
    """`concat { ... }`: each item is a parallel branch; outputs join on the channel axis."""

    body: tuple["Item", ...]
    loc: Loc
    options: tuple["Option", ...] = ()


@dataclass(frozen=True, eq=False)
class Add:
    """`add { ... }`: each item is a parallel branch; outputs are summed element-wise (a
    residual join), then the network's activation follows unless ``act=`` says otherwise."""

    options: tuple[Option, ...]
    body: tuple["Item", ...]
    loc: Loc
    op: str = "add"  # or "mul": `mul { }` multiplies its branches (squeeze-and-excitation)


@dataclass(frozen=True, eq=False)
class Side:
    """`side { ... }`: a training-only side output (GoogLeNet's auxiliary classifiers)."""

    options: tuple[Option, ...]
    body: Union[Group, Layer]
    loc: Loc


Thing = Union[Layer, Group, Concat, Add, Side]


@dataclass(frozen=True, eq=False)
class Item:
    """`[label:] thing [×N]` — one statement of a network or block body."""

    label: str | None
    label_loc: Loc | None
    thing: Thing
    repeat: int | None
    repeat_loc: Loc | None
    loc: Loc


@dataclass(frozen=True, eq=False)
class Network:
    """`network vgg_d input 3x224x224`"""

    name: str
    input: tuple[int, int, int]
    loc: Loc
    input_loc: Loc | None = None  # the `3x224x224`


@dataclass(frozen=True, eq=False)
class Use:
    """`use "lib/inception.arch"` — take the blocks and tables of another file."""

    path: str
    loc: Loc


@dataclass(frozen=True, eq=False)
class Default:
    """`default maxpool ceil=true` — options every layer of that kind gets unless it says otherwise."""

    kind: str
    kind_loc: Loc
    options: tuple[Option, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Activation:
    """`activation scaled-tanh` — the function after every hidden conv/FC layer."""

    name: str
    loc: Loc


@dataclass(frozen=True, eq=False)
class Init:
    """`init normal std=0.01 bias=0` — the weight initialisation the paper used."""

    scheme: str
    options: tuple[Option, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Param:
    name: str
    default: Value | None
    loc: Loc


@dataclass(frozen=True, eq=False)
class Block:
    """`block inception(n1x1, ...) { ... }` — a parameterised, reusable piece of network."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Item, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Table:
    """`table c3 { X . . ... }` — a connection table; rows are input maps, columns output maps."""

    name: str
    rows: tuple[tuple[bool, ...], ...]
    row_locs: tuple[Loc, ...]
    loc: Loc


@dataclass(frozen=True, eq=False)
class Expect:
    """`expect [inference] METRIC [at NAME] [=|≈] VALUE [±N%] [disputed]`"""

    inference: bool
    metric: str
    metric_loc: Loc
    target: str | None
    target_loc: Loc | None
    approx: bool
    value: str
    value_loc: Loc
    tolerance: float | None  # a fraction: ±2% is 0.02
    disputed: bool
    loc: Loc


@dataclass(frozen=True, eq=False)
class Recipe:
    """`train sgd lr=0.01 ...`, `schedule ...`, `augment ...`, `evaluate ...`: a line of
    the paper's training and evaluation recipe."""

    kind: str  # train | schedule | augment | evaluate
    options: tuple[Option, ...]
    loc: Loc


Statement = Union[Network, Use, Default, Activation, Init, Block, Table, Expect, Recipe, Item]


@dataclass(frozen=True, eq=False)
class Spec:
    """One parsed file."""

    source: Source
    statements: tuple[Statement, ...]
    tokens: int = 0  # counted against limits.MAX_TOKENS, with those of the files it uses
    size: int = 0  # bytes, counted against limits.MAX_BYTES likewise
