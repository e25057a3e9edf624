"""The intermediate representation: a network as a graph of layers.

Plain frozen dataclasses.  :mod:`archc.elaborate` builds a :class:`Network` from the AST;
:mod:`archc.analysis` returns the same network with :class:`Info` on every node; passes
(:mod:`archc.passes`) take a network and return a new one.  Nothing here imports torch.

Two views of the same network live side by side:

* ``nodes`` — the dataflow graph, in topological order, one node per layer, activation
  included (the papers' tables omit ReLU; the IR does not);
* ``root`` — the :class:`Scope` tree that labels, groups and blocks define.  It decides
  names: a node's ``name`` is its dotted path in that tree, which is also its path in the
  generated PyTorch module and therefore its prefix in the ``state_dict``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Union

from .errors import Diagnostic, Loc, Source

Pair = tuple[int, int]


@dataclass(frozen=True)
class Shape:
    """A feature map C×H×W; ``flat`` marks a vector (the output of an FC layer)."""

    channels: int
    height: int
    width: int
    flat: bool = False

    @property
    def size(self) -> int:
        return self.channels * self.height * self.width

    def as_list(self) -> list[int]:
        """[C, H, W], or [C] for a vector."""
        return [self.channels] if self.flat else [self.channels, self.height, self.width]

    def __str__(self) -> str:
        if self.flat:
            return str(self.channels)
        return f"{self.channels}×{self.height}×{self.width}"


# -- layer kinds ---------------------------------------------------------------------------
# ``op`` is the name tools see (JSON, DOT); it is fixed per class.


@dataclass(frozen=True)
class Input:
    op: ClassVar[str] = "input"
    shape: Shape


@dataclass(frozen=True)
class Conv:
    """2-D convolution; when sparse, ``connections[j]`` lists the input maps output map j
    reads, out of the ``table_rows`` its table has (an input map may feed none)."""

    op: ClassVar[str] = "conv"
    out_channels: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    groups: int = 1
    bias: bool = True
    connections: tuple[tuple[int, ...], ...] | None = None
    table_rows: int | None = None


@dataclass(frozen=True)
class Pool:
    """Max or average pooling; ``ceil`` is Caffe's (and PyTorch's ``ceil_mode``) rounding."""

    kind: str  # "max" or "avg"
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil: bool = False

    @property
    def op(self) -> str:
        return f"{self.kind}pool"


@dataclass(frozen=True)
class GlobalAvgPool:
    op: ClassVar[str] = "gap"


@dataclass(frozen=True)
class AdaptiveAvgPool:
    """PyTorch's AdaptiveAvgPool2d: pools any input to a fixed ``size``."""

    op: ClassVar[str] = "adaptive_avgpool"
    size: Pair


@dataclass(frozen=True)
class Subsample:
    """LeNet-5's subsampling: sum a window, times a trainable coefficient, plus a bias, per map."""

    op: ClassVar[str] = "subsample"
    kernel: Pair
    stride: Pair


@dataclass(frozen=True)
class Linear:
    """Fully connected; ``in_features`` is what the spec says it expects (checked), if it says."""

    op: ClassVar[str] = "fc"
    out_features: int
    bias: bool = True
    in_features: int | None = None


@dataclass(frozen=True)
class LRN:
    """Cross-channel local response normalisation, b = a / (k + α'·Σa²)^β over ``size`` maps.

    ``convention`` says how ``alpha`` is meant: "paper" (Krizhevsky et al.: α' = α) or
    "caffe" (Caffe and PyTorch's LocalResponseNorm: α' = α / size).
    """

    op: ClassVar[str] = "lrn"
    size: int
    alpha: float
    beta: float
    k: float
    convention: str = "paper"

    @property
    def alpha_per_term(self) -> float:
        return self.alpha if self.convention == "paper" else self.alpha / self.size

    @property
    def torch_alpha(self) -> float:
        """The ``alpha`` to give ``nn.LocalResponseNorm`` (which divides by ``size``)."""
        return self.alpha * self.size if self.convention == "paper" else self.alpha


@dataclass(frozen=True)
class Activation:
    """relu, tanh, sigmoid, LeNet-5's scaled_tanh (1.7159·tanh(2x/3)), or one of the later
    networks': relu6 (min(max(x, 0), 6), MobileNet), hardswish (x·relu6(x + 3)/6) and
    hardsigmoid (relu6(x + 3)/6, MobileNetV3), silu (x·sigmoid(x), EfficientNet), gelu
    (x·Φ(x), with erf, ConvNeXt)."""

    function: str

    @property
    def op(self) -> str:
        return self.function


@dataclass(frozen=True)
class BatchNorm:
    op: ClassVar[str] = "bn"
    eps: float = 1e-5
    momentum: float = 0.1


@dataclass(frozen=True)
class Dropout:
    op: ClassVar[str] = "dropout"
    p: float = 0.5


@dataclass(frozen=True)
class StochasticDepth:
    """Huang et al. 2016's stochastic depth on a residual branch: in training, the whole
    branch of each example is dropped with probability ``p`` (the survivors scaled by
    1 / (1 − p)); in inference, the identity."""

    op: ClassVar[str] = "stochastic_depth"
    p: float = 0.0


@dataclass(frozen=True)
class ChannelSlice:
    """Maps ``start`` … ``stop`` − 1 of the input (ShuffleNetV2's channel split: each
    half is one of these); a view of the input, no copy."""

    op: ClassVar[str] = "channels"
    start: int = 0
    stop: int = 1


@dataclass(frozen=True)
class ChannelShuffle:
    """The maps dealt out of ``groups`` groups in turn (Zhang et al. 2018's channel
    shuffle): map i·g + j of the output is map j·(C/g) + i of the input."""

    op: ClassVar[str] = "shuffle"
    groups: int = 2


@dataclass(frozen=True)
class Softmax:
    op: ClassVar[str] = "softmax"


@dataclass(frozen=True)
class Concat:
    """Joins its inputs on the channel axis (the end of an Inception module)."""

    op: ClassVar[str] = "concat"


@dataclass(frozen=True)
class Add:
    """Sums its inputs element-wise (a residual join: He et al. 2016's shortcut connection)."""

    op: ClassVar[str] = "add"


@dataclass(frozen=True)
class Mul(Add):
    """Multiplies its inputs element-wise, a C×1×1 input scaling every position of its C
    maps: squeeze-and-excitation's gate (Hu et al. 2018).  A kind of join as `add` is: it
    is handled wherever an Add is, and differs in its shapes, arithmetic and memory."""

    op: ClassVar[str] = "mul"


@dataclass(frozen=True)
class Identity:
    """Passes its input on unchanged (an identity shortcut)."""

    op: ClassVar[str] = "identity"


FUSED_LRN_MAX = 16
"""The widest LRN window the fused kernel computes: each channel tile recomputes size − 1
halo channels, so a wider window is left to PyTorch, after the kernel."""

FUSED_ACTIVATIONS = ("relu", "tanh", "sigmoid", "scaled_tanh")
"""The activations archc's fused Triton kernel computes in its epilogue (archc/kernels);
a conv chain with another runs the kernel for the convolution, then PyTorch's module."""


@dataclass(frozen=True)
class Fused:
    """A conv → activation → LRN → max-pool chain (any of the last three may be absent)
    that runs as one kernel; made by :func:`archc.passes.fuse`.  ``members`` are the names
    of the nodes it stands for, in that order, None where a stage is absent.  Its LRN
    window is at most :data:`FUSED_LRN_MAX` channels."""

    op: ClassVar[str] = "fused"
    conv: Conv
    activation: str | None = None
    lrn: LRN | None = None
    pool: Pool | None = None
    members: tuple[str | None, ...] = ()


Layer = Union[Input, Conv, Pool, GlobalAvgPool, AdaptiveAvgPool, Subsample, Linear, LRN,
              Activation, BatchNorm, Dropout, StochasticDepth, ChannelSlice, ChannelShuffle,
              Softmax, Concat, Add, Mul, Identity, Fused]

JOINS = (Concat, Add)
"""Layers that join parallel branches: each input is the output of one branch."""

WEIGHTED = (Conv, Linear, Subsample)
"""Layers with trainable weights; the network's activation follows them by default."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "scaled_tanh", "relu6", "hardswish", "hardsigmoid",
               "silu", "gelu")


def emits_module(layer: Layer) -> bool:
    """Whether generated code holds this layer as a submodule (and so gives it a name)."""
    return not isinstance(layer, (Input, Softmax, Concat, Add, Identity))


def runs_in_place(net: "Network", node: "Node", users: dict[int, list[int]]) -> bool:
    """Whether generated code runs this ReLU in place (``nn.ReLU(inplace=True)``): where
    nothing else reads its input, and the input is not the network's own."""
    if not (isinstance(node.layer, Activation) and node.layer.function == "relu"):
        return False
    source = node.inputs[0]
    return len(users[source]) == 1 and not isinstance(net.nodes[source].layer, Input)


# -- the graph -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    """How weights start: the paper's scheme when the spec gives one, else PyTorch's default."""

    scheme: str = "default"  # "default" (PyTorch's) or "normal"
    std: float | None = None
    bias: float | None = None


@dataclass(frozen=True)
class ReceptiveField:
    """Per axis (h, w): size, effective stride and effective padding, as defined by Araujo
    et al. (Distill 2019) and TensorFlow's receptive_field library."""

    size: Pair
    stride: Pair
    padding: Pair


@dataclass(frozen=True)
class Info:
    """What analysis knows about one node."""

    shape: Shape
    weights: int = 0
    biases: int = 0
    macs: int = 0
    flops: int = 0
    neurons: int = 0  # output elements of layers with weights ("650,000 neurons")
    rf: ReceptiveField | None = None
    rf_note: str | None = None  # why ``rf`` is None, or how branches disagree

    @property
    def params(self) -> int:
        return self.weights + self.biases


@dataclass(frozen=True)
class Repeat:
    """Which copy this is of a layer written once with `×count` (graphs can fold them)."""

    group: int  # the same for every copy made by one `×N`
    index: int
    count: int


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    layer: Layer
    inputs: tuple[int, ...]
    text: str  # the layer in the spec's own notation, parameters substituted
    loc: Loc
    implicit: bool = False  # added by archc (the default activation, `bn=true`), not written
    side: str | None = None  # the training-only side output this node belongs to
    init: Init | None = None  # for layers with weights
    repeat: Repeat | None = None
    labelled: bool = False  # its name comes from a label written in the spec (`conv1:`)
    info: Info | None = None  # set by analysis

    @property
    def op(self) -> str:
        return self.layer.op


@dataclass(frozen=True)
class Scope:
    """A named part of the network: the network itself, a group, a block instance, an
    Inception-style concat, one of its branches, or a side output.  ``children`` holds
    node ids and nested scopes in order; in generated code each scope is one module."""

    name: str
    path: str
    kind: str  # network | group | block | concat | add | branch | side
    children: tuple[Union["Scope", int], ...]
    text: str = ""
    loc: Loc | None = None
    block: str | None = None  # the block a block instance came from
    repeat: Repeat | None = None

    def walk(self) -> Iterator["Scope"]:
        yield self
        for child in self.children:
            if isinstance(child, Scope):
                yield from child.walk()

    def node_ids(self) -> Iterator[int]:
        for child in self.children:
            if isinstance(child, Scope):
                yield from child.node_ids()
            else:
                yield child


@dataclass(frozen=True)
class SideOutput:
    """A training-only output, e.g. GoogLeNet's auxiliary classifier with its loss weight."""

    name: str
    node: int
    weight: float | None
    loc: Loc


@dataclass(frozen=True)
class Expectation:
    """An `expect` line, its value parsed: checked against analysis on every run."""

    metric: str
    target: str | None
    inference: bool
    approx: bool
    value: object  # int | float | Shape | ReceptiveField-like triple of pairs
    scale: float  # 1e6 for `133M`: the unit the value was written in
    decimals: int  # digits after the point as written, for `≈`
    tolerance: float | None
    disputed: bool
    text: str
    loc: Loc


# -- the training recipe: what archc train and archc eval do (archc/recipe.py fills it) ----


@dataclass(frozen=True)
class Schedule:
    """How the learning rate changes: ``constant``; ``step`` (× ``factor`` every ``every``
    epochs); ``multistep`` (× ``factor`` at each epoch in ``at``); ``plateau`` (× ``factor``
    when the validation error has not improved for ``patience`` epochs, at most ``times``
    times)."""

    kind: str = "constant"
    every: int | None = None
    at: tuple[int, ...] = ()
    factor: float = 0.1
    patience: int = 2
    times: int | None = None


@dataclass(frozen=True)
class Augment:
    """How training images are prepared: rescale (``resize``: the shorter side; ``scale``:
    a shorter side drawn per image from a range, VGG's jitter; ``area``/``ratio``: a crop
    of that share of the image and that aspect, GoogLeNet's), then a random crop of the
    network's input size, ``flip``, PCA ``lighting`` of that σ, Howard's ``photometric``
    distortions (brightness, contrast and saturation each scaled by a factor drawn from
    [1 − x, 1 + x], in random order), and the ``mean`` (and ``std``) taken out:
    ``imagenet``'s, the training set's mean pixel (``dataset``), its mean ``image``
    (AlexNet's: images made ``resize``×``resize``, then cropped), or none."""

    resize: int | None = None
    scale: tuple[int, int] | None = None
    area: tuple[float, float] | None = None
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = False
    lighting: float = 0.0
    photometric: float = 0.0
    mean: str = "none"
    std: str = "none"


@dataclass(frozen=True)
class Evaluation:
    """How test images are scored: ``center`` crop, AlexNet's ``ten-crop``, GoogLeNet's
    ``multi-crop`` (144 crops from four ``scales``), or VGG's ``dense`` evaluation of the
    fully-convolutional net at several ``scales``; ``flip`` averages the mirrored images'
    scores in too (multi-crop, dense)."""

    protocol: str = "center"
    resize: int | None = None
    scales: tuple[int, ...] = ()
    flip: bool = False


@dataclass(frozen=True)
class Recipe:
    """A paper's training recipe: optimiser, learning rate and its schedule, batch, epochs,
    augmentation and evaluation.  ``update="paper"`` is AlexNet's momentum rule, with the
    learning rate inside the velocity; ``average`` keeps a Polyak or EMA average of the
    weights, which evaluation then uses."""

    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    batch: int = 32
    epochs: int = 10
    update: str = "pytorch"
    average: str = "none"
    decay: float = 0.999
    schedule: Schedule = field(default_factory=Schedule)
    augment: Augment = field(default_factory=Augment)
    evaluation: Evaluation = field(default_factory=Evaluation)
    loc: Loc | None = None  # the `train` line


@dataclass(frozen=True)
class Network:
    name: str
    input: Shape
    nodes: tuple[Node, ...]
    root: Scope
    output: int
    sides: tuple[SideOutput, ...]
    expects: tuple[Expectation, ...]
    source: Source
    loc: Loc
    activation: str = "relu"
    init: Init = field(default_factory=Init)
    recipe: Recipe | None = None  # the spec's `train`, `schedule`, ... lines, if it has them
    warnings: tuple[Diagnostic, ...] = ()  # set by analysis: spec_warnings and geometry's
    spec_warnings: tuple[Diagnostic, ...] = ()  # set by elaboration, about the text itself

    @property
    def analysed(self) -> bool:
        return all(node.info is not None for node in self.nodes)

    def node(self, name: str) -> Node | None:
        return self._by_name.get(name)

    def scope(self, path: str) -> Scope | None:
        return self._by_path.get(path)

    @functools.cached_property
    def _by_name(self) -> dict[str, Node]:
        return {node.name: node for node in self.nodes}

    @functools.cached_property
    def _by_path(self) -> dict[str, Scope]:
        return {scope.path: scope for scope in self.root.walk()}

    @property
    def class_name(self) -> str:
        """The class generated code defines for this network: `vgg_d` → `VggD`."""
        return class_name(self.name)

    # -- in notebooks: an analysed network shows itself as its page and its stats table --

    def _repr_html_(self) -> str | None:
        if not self.analysed:
            return None
        from .view import Graph

        return Graph(self)._repr_html_()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        if cycle or not self.analysed:
            printer.text(f"<archc network {self.name}, {len(self.nodes)} layers>")
            return
        from . import stats

        printer.text(stats.render([self]).rstrip("\n"))

    def branches(self, join: Node) -> list[list[Union[Scope, int]]]:
        """The parts of ``join``'s scope that make up each of its branches, in the order
        of its inputs: the direct children (node ids and nested scopes) that lead from
        the branch point to that input of the join.  A concat's labelled branch is one
        child; unlabelled branches lie in the join's scope itself, a chain of children;
        an identity branch is its Identity node (or nothing, where a branch reads the
        branch point directly).  What the scope runs before its branches part (a Fire
        module's squeeze: :meth:`before`) is in none of them."""
        chains = self._chains(join)
        shared = len(_common_prefix(chains))
        return [chain[shared:] for chain in chains]

    def before(self, join: Node) -> list[Union[Scope, int]]:
        """The parts of ``join``'s scope that run before its branches part, in order:
        the layers of a group that ends in the join (a Fire module's squeeze)."""
        return _common_prefix(self._chains(join))

    def _chains(self, join: Node) -> list[list[Union[Scope, int]]]:
        scope = self.scope(join.name)
        owner: dict[int, Union[Scope, int]] = {}
        for child in scope.children if scope is not None else ():
            for node_id in (child.node_ids() if isinstance(child, Scope) else (child,)):
                owner[node_id] = child
        chains = []
        for start in join.inputs:
            chain, at = [], start
            while at in owner and owner[at] != join.id:
                child = owner[at]
                chain.append(child)
                first = min(child.node_ids()) if isinstance(child, Scope) else child
                at = self.nodes[first].inputs[0]
            chains.append(chain[::-1])
        return chains

    def consumers(self) -> dict[int, list[int]]:
        """For each node id, the ids of the nodes that read its output."""
        users: dict[int, list[int]] = {node.id: [] for node in self.nodes}
        for node in self.nodes:
            for src in node.inputs:
                users[src].append(node.id)
        return users


def _common_prefix(chains: list[list]) -> list:
    """What every one of two or more chains begins with."""
    common: list = []
    if len(chains) < 2:
        return common
    for parts in zip(*chains):
        if any(part != parts[0] for part in parts):
            break
        common.append(parts[0])
    return common


def class_name(network: str) -> str:
    """A network's name as a Python class name: `vgg_d` → `VggD`, `googlenet_tv` → `GooglenetTv`."""
    return "".join(part[:1].upper() + part[1:] for part in network.split("_") if part) or "Network"
