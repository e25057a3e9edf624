"""IR → Python: a readable, importable PyTorch module for an analysed network.

``templates/module.py.jinja`` and ``network.py.jinja`` are the shape of the output; every
decision about the code is made here, and the docstrings' prose in :mod:`archc.docstrings`.  The module tree follows the spec's scope tree, so the names in
``archc stats`` are the submodule paths and state_dict keys: a group becomes an
``nn.Sequential``, a concat a ``Concat`` of named branches, a side output a submodule
called only in training.  The result imports only torch, is deterministic (same spec, same
archc → same bytes), says which spec line each layer came from, and carries a shape
comment after every statement of ``forward``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from dataclasses import dataclass, field
from typing import Union

import jinja2

from . import analysis, docstrings, ir, limits, output, passes, sources
from .errors import one_line

BACKENDS = ("torch", "triton", "auto")
"""What the generated constructors accept as ``backend``: PyTorch; fused Triton kernels
(archc.kernels); or Triton on CUDA tensors and PyTorch elsewhere."""

MARKER = output.PY_MARK.decode().rstrip()
"""The first words of every file archc writes (how `archc compile` knows it may overwrite)."""


def generate(net: ir.Network) -> str:
    """The Python source of the module for ``net``."""
    from . import __version__

    if not net.analysed:
        net = analysis.analyze(net)
    cls = net.class_name
    spec_dir = os.path.dirname(net.source.path)
    main = _Network(net, cls, spec_dir)
    models = [main]
    if passes.has_dense_form(net):
        dense = _Network(passes.dense(net), f"{cls}Dense", spec_dir, dense_of=cls)
        main.dense = dense.cls
        models.append(dense)
    helpers = sorted(set().union(*(m.helpers for m in models))) + ["check_arguments",
                                                                     "initialise"]
    imports = ["import torch", "from torch import nn"]
    if {"subsample", "sparse_conv"} & set(helpers):
        imports.append("import torch.nn.functional as F")
    if any(m.ordered for m in models):
        imports.append("from collections import OrderedDict")
    if net.sides:
        imports.append("from typing import NamedTuple")
    outputs = None
    if net.sides:
        outputs = {"name": f"{cls}Outputs", "fields": ["logits", *(s.name for s in net.sides)]}
    exports = [m.cls for m in models] + ([outputs["name"]] if outputs else []) + ["Model"]
    constants = sorted({name: value for m in models for name, value in m.constants.items()}.items())
    text = _environment().get_template("module.py.jinja").render(
        marker=MARKER, version=__version__, spec_path=docstrings.spec_path(net),
        from_file=not net.source.path.startswith("<"), cls=cls,
        doc=docstrings.module(net, cls, dense=len(models) > 1),
        imports="\n".join(_sorted_imports(imports)), exports=exports,
        backends="(" + ", ".join(map(json.dumps, BACKENDS)) + ")", constants=constants,
        helpers=helpers, outputs=outputs, max_classes=limits.MAX_SIZE,
        models=[m.context() for m in models])
    return text.rstrip() + "\n"


def _sorted_imports(lines: list[str]) -> list[str]:
    """Standard library first, then torch, as isort would."""
    stdlib = sorted(line for line in lines if "torch" not in line)
    order = ("import torch", "import torch.nn.functional as F", "from torch import nn")
    torch_ = [line for line in order if line in lines]
    return stdlib + ([""] if stdlib else []) + torch_


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sources.templates_dir())),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False)


# -- one network class -----------------------------------------------------------------------


@dataclass
class _Constant:
    comment: str
    code: str


@dataclass
class _Network:
    """Everything the template needs for one class."""

    net: ir.Network
    cls: str
    spec_dir: str
    dense_of: str | None = None
    dense: str | None = None
    helpers: set = field(default_factory=set)
    constants: dict = field(default_factory=dict)
    constant_owners: dict = field(default_factory=dict)
    ordered: bool = False

    def __post_init__(self):
        self.nodes = self.net.nodes
        self.users = self.net.consumers()
        self.classes_layers, self.num_classes = self._class_layers()
        self.channels = self._channel_codes()
        main_ps = sorted({n.layer.p for n in self.nodes
                          if isinstance(n.layer, ir.Dropout) and n.side is None})
        self.dropout_ps = main_ps
        self.init_lines = self._init_lines()
        self.forward_lines = self._forward_lines()

    # -- what the constructor's arguments change -----------------------------------------

    def _class_layers(self) -> tuple[set[int], int]:
        """The layers whose output count is the number of classes: the last conv or FC
        layer before each output (main and side outputs alike, where they agree)."""
        def last_weighted(node_id: int) -> int | None:
            node = self.nodes[node_id]
            while not isinstance(node.layer, (ir.Conv, ir.Linear)):
                if not isinstance(node.layer, (ir.Softmax, ir.Dropout, ir.Activation, ir.BatchNorm,
                                               ir.GlobalAvgPool, ir.AdaptiveAvgPool, ir.Pool)):
                    return None
                node = self.nodes[node.inputs[0]]
            return node.id

        main = last_weighted(self.net.output)
        if main is None:
            return set(), self.nodes[self.net.output].info.shape.channels
        classes = self.nodes[main].info.shape.channels
        found = {main}
        for side in self.net.sides:
            layer = last_weighted(side.node)
            if layer is not None and self.nodes[layer].info.shape.channels == classes:
                found.add(layer)
        return found, classes

    def _channel_codes(self) -> dict[int, str]:
        """Each node's output channel count as code: `num_classes` where it follows from
        the classifier (through layers that keep the channels), else the number."""
        keeps = (ir.Activation, ir.BatchNorm, ir.Dropout, ir.StochasticDepth, ir.Softmax, ir.Pool, ir.LRN,
                 ir.GlobalAvgPool, ir.AdaptiveAvgPool, ir.Subsample, ir.Add, ir.Identity)
        codes: dict[int, str] = {}
        for node in self.nodes:  # in topological order: a node's input comes first
            if node.id in self.classes_layers:
                codes[node.id] = "num_classes"
            elif isinstance(node.layer, keeps):
                codes[node.id] = codes[node.inputs[0]]
            else:
                codes[node.id] = str(node.info.shape.channels)
        return codes

    def _dropout(self, node: ir.Node) -> str:
        p = node.layer.p
        if node.side is not None or not self.dropout_ps:
            return f"nn.Dropout(p={p!r})"
        if len(self.dropout_ps) == 1:
            return "nn.Dropout(p=dropout)"
        return f"nn.Dropout(p={p!r} if dropout is None else dropout)"

    # -- modules ---------------------------------------------------------------------------

    def _module(self, node: ir.Node) -> str:
        layer = node.layer
        src_id = node.inputs[0]
        src = self.nodes[src_id].info.shape
        c_in = self.channels[src_id]
        if isinstance(layer, ir.Conv):
            c_out = "num_classes" if node.id in self.classes_layers else str(layer.out_channels)
            args = _conv_args(layer)
            if layer.connections is not None:
                self.helpers.add("sparse_conv")
                table = self._constant_name(node, "_CONNECTIONS")
                rows = "".join(f"\n    {reads!r}," for reads in layer.connections)
                self.constants[table] = _Constant(
                    f"# {one_line(node.name)}'s connection table ({_where(node.loc, self.spec_dir)}): "
                    f"the input maps each output map reads.", f"({rows}\n)")
                return f"SparseConv2d({c_in}, {table}, {args})"
            return f"nn.Conv2d({c_in}, {c_out}, {args})"
        if isinstance(layer, ir.Linear):
            out = "num_classes" if node.id in self.classes_layers else str(layer.out_features)
            area = src.height * src.width
            if c_in.isdigit():
                n_in = str(src.size)
            else:  # the number of classes, carried on by pooling
                n_in = c_in if area == 1 else f"{c_in} * {area}"
            return f"nn.Linear({n_in}, {out}{'' if layer.bias else ', bias=False'})"
        if isinstance(layer, ir.Pool):
            name = "nn.MaxPool2d" if layer.kind == "max" else "nn.AvgPool2d"
            args = [f"kernel_size={_pair(layer.kernel)}", f"stride={_pair(layer.stride)}"]
            if any(layer.padding):
                args.append(f"padding={_pair(layer.padding)}")
            if layer.ceil:
                args.append("ceil_mode=True")
            return f"{name}({', '.join(args)})"
        if isinstance(layer, ir.GlobalAvgPool):
            return "nn.AdaptiveAvgPool2d(1)"
        if isinstance(layer, ir.AdaptiveAvgPool):
            return f"nn.AdaptiveAvgPool2d({layer.size!r})"
        if isinstance(layer, ir.Subsample):
            self.helpers.add("subsample")
            return (f"Subsample2d({c_in}, kernel_size={_pair(layer.kernel)}, "
                    f"stride={_pair(layer.stride)})")
        if isinstance(layer, ir.LRN):
            return (f"nn.LocalResponseNorm({layer.size}, alpha={layer.torch_alpha!r}, "
                    f"beta={layer.beta!r}, k={layer.k!r})")
        if isinstance(layer, ir.Activation):
            if layer.function == "relu":
                in_place = ir.runs_in_place(self.net, node, self.users)
                return "nn.ReLU(inplace=True)" if in_place else "nn.ReLU()"
            if layer.function == "scaled_tanh":
                self.helpers.add("scaled_tanh")
                return "ScaledTanh()"
            return {"tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()", "relu6": "nn.ReLU6()",
                    "hardswish": "nn.Hardswish()", "hardsigmoid": "nn.Hardsigmoid()",
                    "silu": "nn.SiLU()", "gelu": "nn.GELU()"}[layer.function]
        if isinstance(layer, ir.BatchNorm):
            kind = "nn.BatchNorm1d" if src.flat else "nn.BatchNorm2d"
            extra = "" if layer.eps == 1e-5 else f", eps={layer.eps!r}"
            extra += "" if layer.momentum == 0.1 else f", momentum={layer.momentum!r}"
            return f"{kind}({c_in}{extra})"
        if isinstance(layer, ir.Dropout):
            return self._dropout(node)
        if isinstance(layer, ir.ChannelSlice):
            self.helpers.add("channels")
            return f"Channels({layer.start}, {layer.stop})"
        if isinstance(layer, ir.ChannelShuffle):
            self.helpers.add("channel_shuffle")
            return f"ChannelShuffle({layer.groups})"
        if isinstance(layer, ir.StochasticDepth):
            self.helpers.add("stochastic_depth")
            return f"StochasticDepth({layer.p!r})"
        raise AssertionError(f"no module for {layer!r}")  # Input, Softmax, Concat emit none

    def _comment(self, node: ir.Node) -> str:
        text = one_line(node.text)
        note = ""
        if isinstance(node.layer, ir.LRN) and node.layer.convention == "paper":
            note = f"; paper's α·Σ: PyTorch alpha = {node.layer.alpha!r}·{node.layer.size}"
        return f"# {text}  ({_where(node.loc, self.spec_dir)}){note}"

    def _constant_name(self, node: ir.Node, suffix: str) -> str:
        """A module-level name for a constant of ``node``: `FEATURES_0_CONNECTIONS`, numbered
        if another layer's has that name (`features.0` and a label `features_0` would)."""
        wanted = node.name.replace(".", "_").upper() + suffix
        name, number = wanted, 1
        while self.constant_owners.setdefault(name, node.id) != node.id:
            number += 1
            name = f"{wanted}_{number}"
        return name

    # -- the module tree -------------------------------------------------------------------

    def _needs_flatten(self, node_id: int) -> bool:
        node = self.nodes[node_id]
        return isinstance(node.layer, ir.Linear) and not self.nodes[node.inputs[0]].info.shape.flat

    def _expression(self, child: Union[ir.Scope, int], parent: ir.Scope) -> list[str]:
        """Lines of the code that builds ``child``; the caller adds the trailing comma."""
        if isinstance(child, int):
            node = self.nodes[child]
            return [f"{self._module(node)}  {self._comment(node)}"]
        where = f"# {one_line(child.text)}  ({_where(child.loc, self.spec_dir)})" if child.loc else ""
        entries = self._entries(child, root_child=parent.kind == "network")
        if child.kind in ("add", "mul") or (child.kind == "concat" and self._chains(child)):
            return self._add_expression(child, where)
        if child.kind == "concat":
            return self._concat(child, entries, where)
        plain = [name for name, _ in entries] == [str(i) for i in range(len(entries))]
        if plain:
            return self._call("nn.Sequential(", entries, ")", where, lambda n: "")
        self.ordered = True
        return self._call("nn.Sequential(OrderedDict([", entries, "]))", where,
                          lambda n: f"({json.dumps(n)}, ", close_each=")")

    def _concat(self, scope: ir.Scope, entries, where: str) -> list[str]:
        """A concat scope as `Concat(branch=module, ...)`; `flatten=(...)` names the
        branches that are an FC layer reading the map (flattened for them alone)."""
        self.helpers.add("concat")
        flat = [self._local(c, scope) for c in scope.children
                if isinstance(c, int) and self._needs_flatten(c)]
        if flat:
            names = ", ".join(map(json.dumps, flat)) + ("," if len(flat) == 1 else "")
            entries = [("flatten", [f"({names})"])] + entries
        if all(re.fullmatch(r"[A-Za-z_]\w*", name) for name, _ in entries):
            return self._call("Concat(", entries, ")", where, lambda n: f"{n}=")
        return self._call("Concat(**{", entries, "})", where, lambda n: f"{json.dumps(n)}: ")

    def _call(self, opening, entries, closing, where, key, close_each="") -> list[str]:
        """A call spread over lines, one argument (with its trailing comment) per line."""
        lines = [f"{opening}  {where}" if where else opening]
        for name, body in entries:
            head, *rest = body
            if rest:
                lines.append(f"    {key(name)}{head}")
                lines += [f"    {line}" for line in rest[:-1]]
                lines.append(f"    {rest[-1]}{close_each},")
            else:
                code, _, comment = head.partition("  # ")
                lines.append(f"    {key(name)}{code}{close_each},")
                if comment:
                    lines[-1:] = _with_comment(lines[-1], comment)
        lines.append(closing)
        return lines

    def _entries(self, scope: ir.Scope, root_child: bool) -> list[tuple[str, list[str]]]:
        """The submodules that build ``scope``: (name, lines of code) each.  In a concat,
        an identity branch is a module too (the join reads every branch), and a branch
        that is an FC layer over a map takes its input flattened (see :meth:`_concat`)."""
        entries = []
        for child in scope.children:
            if isinstance(child, int):
                node = self.nodes[child]
                if scope.kind == "concat" and isinstance(node.layer, ir.Identity):
                    entries.append((self._local(child, scope),
                                    [f"nn.Identity()  {self._comment(node)}"]))
                    continue
                if not ir.emits_module(node.layer):
                    continue
                if self._needs_flatten(child) and scope.kind != "concat" and not (
                        root_child and child == min(scope.node_ids())):
                    entries.append(("flatten", ["nn.Flatten()"]))
            name = child.name if isinstance(child, ir.Scope) else self._local(child, scope)
            entries.append((name, self._expression(child, scope)))
        return entries

    def _local(self, node_id: int, scope: ir.Scope) -> str:
        name = self.nodes[node_id].name
        return name[len(scope.path) + 1:] if scope.path else name

    def _init_lines(self) -> list[str]:
        lines = []
        for child in self.net.root.children:
            if isinstance(child, int) and not ir.emits_module(self.nodes[child].layer):
                continue
            name = child.name if isinstance(child, ir.Scope) else self.nodes[child].name
            head, *rest = self._expression(child, self.net.root)
            code, _, comment = head.partition("  # ")
            line = f"self.{name} = {code}"
            lines += _with_comment(line, comment) if comment else [line]
            lines += rest
        return lines

    def _forward_lines(self) -> list[str]:
        lines = []
        for child in self.net.root.children:
            ids = list(child.node_ids()) if isinstance(child, ir.Scope) else [child]
            first, last = self.nodes[min(ids)], self.nodes[max(ids)]
            if isinstance(child, int) and not ir.emits_module(first.layer):
                continue
            name = child.name if isinstance(child, ir.Scope) else first.name
            if self._needs_flatten(first.id):
                flat = self.nodes[first.inputs[0]].info.shape.size
                lines.append(f"x = torch.flatten(x, 1)  # N x {flat}")
            shape = _shape_comment(self._returned(last.info.shape))
            if last.side is not None:
                call = f"self.{name}(x)"
                if self._returned(last.info.shape) != last.info.shape:
                    call = f"torch.flatten({call}, 1)"
                lines.append(f"{name} = {call} if self.training else None  # {shape}")
            else:
                lines.append(f"x = self.{name}(x)  # {_shape_comment(last.info.shape)}")
        out = self.nodes[self.net.output].info.shape
        if self._returned(out) != out:
            lines.append(f"x = torch.flatten(x, 1)  # {_shape_comment(self._returned(out))}")
        if self.net.sides:
            names = ", ".join(s.name for s in self.net.sides)
            outputs = f"{self.dense_of or self.cls}Outputs"
            lines += ["if self.training:", f"    return {outputs}(x, {names})"]
        lines.append("return x")
        return lines

    def _returned(self, shape: ir.Shape) -> ir.Shape:
        """What ``forward`` returns for an output of ``shape``: N×C logits where the network
        ends in a 1×1 map (global average pooling, a 1×1 convolution over it), as
        cross_entropy wants them; the fully-convolutional twin returns its score map."""
        if self.dense_of or shape.flat or (shape.height, shape.width) != (1, 1):
            return shape
        return ir.Shape(shape.channels, 1, 1, flat=True)

    def _chains(self, scope: ir.Scope) -> bool:
        """Whether a concat's branches lie in the join itself (unlabelled branches: their
        layers are the join's own submodules, as in torchvision's dense layers) rather
        than each being a submodule of its own."""
        return any(isinstance(c, int) and not isinstance(self.nodes[c].layer,
                                                         (ir.Identity, ir.Concat))
                   for c in scope.children)

    def _add_expression(self, scope: ir.Scope, where: str) -> list[str]:
        """An `add` (or `mul`) scope as `Add(branches=..., after=..., name=module, ...)`:
        its own layers, each branch as the sequence of them it runs, and what follows the
        sum (`product=True`: the product).  A concat whose branches lie in it is the same,
        as `Concat(branches=..., name=module, ...)`."""
        concat = scope.kind == "concat"
        self.helpers.add("concat" if concat else "add")
        join = next(self.nodes[c] for c in scope.children
                    if isinstance(c, int) and isinstance(self.nodes[c].layer, ir.JOINS))
        modules: dict[Union[ir.Scope, int], tuple[str, list[str]]] = {}
        flattens: dict[int, str] = {}
        for child in scope.children:
            if isinstance(child, int) and not ir.emits_module(self.nodes[child].layer):
                continue
            if isinstance(child, int) and self._needs_flatten(child):
                # Concat takes the names of the FC layers to flatten for (its `flatten`),
                # Add a Flatten module before each.
                flattens[child] = f"flatten_{len(flattens) + 1}" if flattens else "flatten"
            name = child.name if isinstance(child, ir.Scope) else self._local(child, scope)
            modules[child] = (name, self._expression(child, scope))
        plan = []
        for chain in self.net.branches(join):
            steps = []
            for part in chain:
                if part in flattens and not concat:
                    steps.append(flattens[part])
                if part in modules:
                    steps.append(modules[part][0])
            plan.append(steps)
        position = scope.children.index(join.id)
        after = [modules[c][0] for c in scope.children[position + 1:] if c in modules]
        before = []
        for part in self.net.before(join):
            if part in flattens and not concat:
                before.append(flattens[part])
            if part in modules:
                before.append(modules[part][0])
        opening = "Concat(" if concat else "Add("
        lines = [f"{opening}  {where}" if where else opening]
        if before:
            lines.append(f"    before=({', '.join(json.dumps(b) for b in before)},),")
        lines.append("    branches=(")
        lines += [f"        ({', '.join(json.dumps(s) for s in steps)}{',' * (len(steps) == 1)}),"
                  for steps in plan]
        lines.append("    ),")
        if concat and flattens:
            names = [modules[c][0] for c in flattens]
            lines.append(f"    flatten=({', '.join(map(json.dumps, names))},),")
        if after:
            lines.append(f"    after=({', '.join(json.dumps(a) for a in after)},),")
        if isinstance(join.layer, ir.Mul):
            lines.append("    product=True,")
        entries = []
        for child, (name, body) in modules.items():
            if child in flattens and not concat:
                entries.append((flattens[child], ["nn.Flatten()"]))
            entries.append((name, body))
        if all(re.fullmatch(r"[A-Za-z_]\w*", name) for name, _ in entries):
            return lines + self._call("", entries, ")", "", lambda n: f"{n}=")[1:]
        # A submodule called `block1-0` cannot be a keyword argument: a dict of them.
        inner = self._call("", entries, "", "", lambda n: f"{json.dumps(n)}: ")[1:-1]
        return lines + ["    **{"] + [f"    {line}" for line in inner] + ["    })"]

    # -- the template's view -----------------------------------------------------------------

    def context(self) -> dict:
        net = self.net
        if self.dense_of:
            shared = ["INPUT_SHAPE", "SPEC_INIT"] + (["SIDE_WEIGHTS"] if net.sides else [])
            attributes = [(name, f"{self.dense_of}.{name}") for name in shared]
        else:
            attributes = [("INPUT_SHAPE", repr(tuple(net.input.as_list())))]
        spec_init = {n.name: (n.init.std, n.init.bias) for n in net.nodes
                     if n.init is not None and (n.init.std is not None or n.init.bias is not None)}
        items = "".join(f"\n    {json.dumps(name)}: ({_number(std)}, {_number(bias)}),"
                        for name, (std, bias) in spec_init.items())
        if not self.dense_of:
            attributes.append(("SPEC_INIT", "{" + items + ("\n}" if items else "}")))
        chains = [n.layer.members for n in passes.fuse(net).nodes if isinstance(n.layer, ir.Fused)]
        rows = "".join("\n    (" + ", ".join(json.dumps(m) if m else "None" for m in chain) + "),"
                       for chain in chains)
        attributes.append(("FUSED", "(" + rows + ("\n)" if rows else ")")))
        if net.sides and not self.dense_of:
            weights = ", ".join(f"{json.dumps(s.name)}: {_number(s.weight)}" for s in net.sides)
            attributes.append(("SIDE_WEIGHTS", "{" + weights + "}"))
        if len(self.dropout_ps) == 1:
            dropout_type, dropout_default = "float", repr(self.dropout_ps[0])
        else:
            dropout_type, dropout_default = "float | None", "None"
        returns = "torch.Tensor"
        if net.sides:
            returns = f"torch.Tensor | {self.dense_of or self.cls}Outputs"
        return {
            "cls": self.cls, "attributes": attributes,
            "doc": docstrings.network(self.net, self.cls, self.dense_of, self.num_classes,
                                      self.dropout_ps),
            "num_classes": self.num_classes, "dropout_type": dropout_type,
            "dropout_default": dropout_default, "init_lines": self.init_lines,
            "forward_lines": self.forward_lines, "returns": returns,
            "reset_doc": docstrings.reset_parameters(self.net, spec_init),
            "dense": self.dense,
        }


def _number(value: float | None) -> str:
    """A number as Python code, without a needless `.0`: 0.01, 1, None."""
    if value is None:
        return "None"
    value = float(value)
    # Whole numbers without `.0`, but only where that is still a float's value: 1e20
    # written as an int would overflow when a tensor is filled with it.
    return repr(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)


WIDTH = docstrings.WIDTH
"""Generated lines stay within this many columns; a comment that would not fit goes above."""


def _with_comment(line: str, comment: str, indent: int = 8) -> list[str]:
    """``line`` with ``# comment`` after it, or above it (wrapped) if that is too long.
    ``indent`` is where the line will sit in the file (inside a method body)."""
    if indent + len(line) + 4 + len(comment) <= WIDTH:
        return [f"{line}  # {comment}"]
    pad = line[:len(line) - len(line.lstrip())]
    width = WIDTH - indent - len(pad) - 2
    return [f"{pad}# {part}" for part in textwrap.wrap(comment, width)] + [line]


def _where(loc, spec_dir: str) -> str:
    """Where a layer was written, for the comment beside it (passed through one_line, as
    everything from a spec that reaches the file is: see :mod:`archc.docstrings`)."""
    path = loc.path if loc.path.startswith("<") else os.path.relpath(loc.path, spec_dir or ".")
    return f"{one_line(path)}:{loc.line}"


def _pair(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else repr(value)


def _conv_args(layer: ir.Conv) -> str:
    args = [f"kernel_size={_pair(layer.kernel)}"]
    if layer.stride != (1, 1):
        args.append(f"stride={_pair(layer.stride)}")
    if any(layer.padding):
        args.append(f"padding={_pair(layer.padding)}")
    if layer.groups != 1:
        args.append(f"groups={layer.groups}")
    if not layer.bias:
        args.append("bias=False")
    return ", ".join(args)


def _shape_comment(shape: ir.Shape) -> str:
    if shape.flat:
        return f"N x {shape.channels}"
    return f"N x {shape.channels} x {shape.height} x {shape.width}"
