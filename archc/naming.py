"""Names: how elaboration names every node and scope, and the names a spec may not use.

Naming — the same names appear in `archc stats`, in generated code and in state_dict keys:

* a labelled layer, group, block instance or branch is called by its label; a label on
  a repeated item is numbered Caffe-style (``conv1: conv3-64 ×2`` → conv1_1, conv1_2);
* unlabelled things at the top level, and inside an ``add`` (as in torchvision's residual
  units), are called after their kind: ``conv1``, ``relu2``, ``inception1`` (just
  ``softmax`` when there is one);
* unlabelled things inside a group, block or branch are called by their position among
  the scope's submodules — ``features.0``, ``features.2`` — exactly as in a
  ``torch.nn.Sequential``, which is what makes torchvision's weights load;
* a scope holding exactly one thing is that thing (``branch1: basic(1, 64)`` is one
  module called ``branch1``, not ``branch1.0``) — unless that thing has a label of its
  own, which is never lost: ``head { fc: FC-10 }`` is ``head.fc``.

Labels and network names become Python names in generated code: they are checked here
against Python's keywords and builtins and the names that code uses.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Union

from . import ast, ir
from .errors import Loc, Note, SemanticError

# Attributes of torch.nn.Module, and of the classes archc generates, that a label must not
# shadow in generated code.
RESERVED = frozenset("""
    backend hparams dense reset_parameters INPUT_SHAPE SPEC_INIT SIDE_WEIGHTS FUSED
    T_destination register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_state_dict_post_hook
    register_state_dict_pre_hook set_submodule
    add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_module register_parameter requires_grad_ set_extra_state share_memory
    state_dict to to_empty train training type xpu zero_grad
""".split())

# The archc language's own keywords: a statement (`init normal ...`) or a join (`add { }`)
# begins with one, so a label of that name (`init: conv3-64`) would not parse as a label —
# except `block`, which the grammar also takes as a label (`block: { ... }`, the name
# torchvision gives the body of its MobileNetV3 and EfficientNet units).
KEYWORDS = frozenset("""network use default activation init block table expect train schedule
    augment evaluate concat add mul side""".split())

# Names the generated module uses where a label can land beside them: a side output's
# label is a local variable of `forward` and a field of its outputs tuple (after
# `logits`), a branch's label a keyword argument, and a group's `flatten` a submodule.
_GENERATED = frozenset("torch nn F self x logits flatten super".split())

# What a network's class must not shadow in its own module, and the modules that module
# imports, which a file named after the network would shadow for its neighbours.
_GENERATED_CLASSES = frozenset(
    "F Concat Subsample2d SparseConv2d ScaledTanh Model OrderedDict NamedTuple BACKENDS".split())
_BUILTINS = frozenset(dir(builtins))
_IMPORTED_MODULES = frozenset("torch typing collections archc triton".split())


def _error(message: str, loc: Loc | None, hint: str | None = None, notes=()) -> SemanticError:
    return SemanticError(message, loc, hint=hint, notes=notes)


# -- building blocks: mutable while elaborating, frozen into ir.* at the end -------------


@dataclass
class NodeB:
    id: int
    layer: ir.Layer
    inputs: tuple[int, ...]
    text: str
    loc: Loc
    implicit: bool = False
    side: "ScopeB | None" = None
    init: ir.Init | None = None
    repeat: ir.Repeat | None = None


@dataclass
class Child:
    label: str | None
    label_loc: Loc | None
    node: NodeB | None = None
    scope: "ScopeB | None" = None


@dataclass
class ScopeB:
    kind: str
    loc: Loc | None
    text: str = ""
    block: str | None = None
    repeat: ir.Repeat | None = None
    children: list[Child] = field(default_factory=list)
    final_path: str | None = None  # set when named; read by side outputs

    def add_node(self, node: NodeB, label: str | None = None, label_loc: Loc | None = None):
        self.children.append(Child(label, label_loc, node=node))

    def add_scope(self, scope: "ScopeB", label: str | None, label_loc: Loc | None):
        self.children.append(Child(label, label_loc, scope=scope))


# -- naming ------------------------------------------------------------------------------


class Names(dict):
    """Node id → final name, plus the finished scope tree as ``root`` and the ids of the
    nodes whose name is a label written in the spec (``labelled``)."""

    root: ir.Scope
    labelled: set


class Namer:
    """Collapses single-child scopes and names everything (see the module docstring)."""

    def __init__(self, nodes: list[NodeB]):
        self.nodes = nodes
        self.names = Names()
        self.names.labelled = set()

    def finish(self, root: ScopeB) -> Names:
        self.names[0] = "input"
        self.names.root = self._scope(root, "", "", is_root=True)
        return self.names

    @staticmethod
    def _collapse(scope: ScopeB) -> tuple[Union[ScopeB, NodeB], tuple[ScopeB, ...]]:
        """What a scope stands for once single-child scopes are folded into their child,
        and the scopes folded away (a side output must still learn its final name).  A
        child with a label of its own is not folded away: its label is a name, and a
        name is never lost (`{ a: conv1-8 act=none }` in a concat is `0.a`, as a torch
        Sequential holding a module called `a` would name it)."""
        absorbed: list[ScopeB] = []
        scope = Namer._merge_trailing_join(scope, absorbed)
        while len(scope.children) == 1 and scope.children[0].label is None:
            only = scope.children[0]
            absorbed.append(scope)
            if only.node is not None:
                return only.node, tuple(absorbed)
            inner = only.scope
            # Keep the more telling description: a block call's text (`inception(64, ...)`)
            # over the `concat` or group it consists of.
            shown = scope if scope.kind == "block" else inner
            scope = ScopeB("side" if scope.kind == "side" else inner.kind, shown.loc,
                            text=shown.text, block=scope.block or inner.block,
                            repeat=scope.repeat or inner.repeat, children=inner.children)
            absorbed.append(inner)
            scope = Namer._merge_trailing_join(scope, absorbed)
        return scope, tuple(absorbed)

    @staticmethod
    def _merge_trailing_join(scope: ScopeB, absorbed: list) -> ScopeB:
        """A group or block whose layers end in an unlabelled join is that join, with
        the layers before it run first: its branches' layers are the group's own, as in
        torchvision's Fire module (`squeeze`, then `expand1x1` and `expand3x3` joined)."""
        last = scope.children[-1] if scope.children else None
        if (scope.kind in ("group", "block") and len(scope.children) > 1 and last.label is None
                and last.scope is not None and last.scope.kind in ("concat", "add", "mul")):
            join = last.scope
            absorbed.append(join)
            return ScopeB(join.kind, scope.loc, text=scope.text, block=scope.block,
                          repeat=scope.repeat, children=scope.children[:-1] + join.children)
        return scope

    def _scope(self, scope: ScopeB, name: str, path: str, is_root=False) -> ir.Scope:
        children: list[Union[ir.Scope, int]] = []
        entries = []
        for child in scope.children:
            if child.node is not None:
                entries.append((child, child.node, ()))
            else:
                entries.append((child, *self._collapse(child.scope)))
        _check_duplicates(entries)
        labels = {child.label for child, _, _ in entries if child.label}
        # At the top level and inside an `add` (as in torchvision's residual units),
        # unlabelled things are named after their kind; elsewhere by their position.
        by_kind = is_root or scope.kind in ("add", "mul", "concat")
        bases = Counter(self._base(t) for c, t, _ in entries
                        if c.label is None and (by_kind or not self._positional(t)))
        counters: Counter = Counter()
        position = 0
        for child, target, absorbed in entries:
            positional = self._positional(target)
            if isinstance(target, NodeB) and isinstance(target.layer, ir.JOINS):
                local = None  # the join is named after its scope
            elif child.label is not None:
                local = child.label
            elif positional and not by_kind:
                local = str(position)
                if local in labels:  # `{1}: ...` beside an unlabelled second submodule
                    raise _error(f"the label `{local}` is the position of another "
                                 f"submodule here", next(c.label_loc for c, _, _ in entries
                                                        if c.label == local),
                                 hint="a `{N}` label names a submodule by position: give "
                                      "the others labels too, or leave this one unlabelled")
            else:
                base = self._base(target)
                if bases[base] == 1 and base not in labels:
                    local = base
                else:
                    while True:
                        counters[base] += 1
                        local = f"{base}{counters[base]}"
                        if local not in labels:
                            break
            if positional:
                position += 1
            full = path if local is None else (f"{path}.{local}" if path else local)
            for folded in absorbed:
                folded.final_path = full
            if isinstance(target, NodeB):
                self.names[target.id] = full
                if child.label is not None:
                    self.names.labelled.add(target.id)
                children.append(target.id)
            else:
                children.append(self._scope(target, local, full))
        scope.final_path = path
        return ir.Scope(name=name, path=path, kind=scope.kind, children=tuple(children),
                        text=scope.text, loc=scope.loc, block=scope.block, repeat=scope.repeat)

    @staticmethod
    def _positional(target) -> bool:
        """Whether the thing is a submodule in generated code (and so takes a position)."""
        return isinstance(target, ScopeB) or ir.emits_module(target.layer)

    @staticmethod
    def _base(target) -> str:
        if isinstance(target, NodeB):
            return target.layer.op
        if target.block is not None:  # a block call, though folded into its concat or add
            return target.block
        return target.kind


def _check_duplicates(entries):
    seen: dict[str, Loc | None] = {}
    for child, _, _ in entries:
        if child.label is None:
            continue
        if child.label in seen:
            raise _error(f"the label `{child.label}` is used twice in the same scope",
                         child.label_loc, notes=[Note("first used here", seen[child.label])]
                         if seen[child.label] else ())
        seen[child.label] = child.label_loc


def check_identifier(text: str, loc: Loc | None, what: str, hyphens: bool = False,
                     block_word: bool | None = None):
    """A name that becomes an attribute, variable or keyword in generated code (labels),
    or may one day (block names): a Python identifier nothing in that code uses, and not
    a keyword of archc's, which would begin a statement where the name is written.

    ``hyphens``: the name of a submodule inside a group, block or branch, which PyTorch
    takes as it is (torchvision's RegNet calls its units `block1-0`): words joined by
    `-` are fine there, as no Python code spells them.  ``block_word``: the keyword
    `block` is fine too, where the grammar reads it as a label (labels and branch names;
    the default for labels)."""
    if block_word is None:
        block_word = what == "a label"
    if text in KEYWORDS and not (text == "block" and block_word):
        raise _error(f"`{text}` is a keyword and cannot be {what}", loc,
                     hint=f"call it something else, e.g. `{text}_1`")
    if "-" in text:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)+", text):
            _python_name(text, loc, what)  # says which characters a name takes
        if hyphens:
            return
        if what != "a label":  # a block's or a branch's name is a Python name
            _python_name(text, loc, what)
        raise _error(f"`{text}` cannot be {what} at the top level of a network: there it "
                     f"is an attribute of the generated class, a Python name", loc,
                     hint=f"use `_` for `-` (`{text.replace('-', '_')}`), or put it inside "
                          f"a group, where any word may name a submodule")
    _python_name(text, loc, what)


def _python_name(text: str, loc: Loc | None, what: str):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise _error(f"`{text}` cannot be {what}: use letters, digits and `_`", loc,
                     hint=f"e.g. `{re.sub(r'[^A-Za-z0-9_]', '_', text)}`")
    if keyword.iskeyword(text) or text in RESERVED or text in _GENERATED:
        raise _error(f"`{text}` cannot be {what}: it is reserved in generated Python code", loc,
                     hint=f"e.g. `{text}_`" if not keyword.iskeyword(text) else None)
    if text.startswith("_"):
        raise _error(f"`{text}` cannot be {what}: names starting with `_` are private to "
                     f"Python and PyTorch", loc, hint=f"e.g. `{text.lstrip('_') or 'x'}_`")


def check_network_name(decl: ast.Network):
    """The name that becomes a module file (`NAME.py`) and a class (`ir.class_name`)."""
    _python_name(decl.name, decl.loc, "a network name")  # after `network`, a keyword reads as a name
    cls = ir.class_name(decl.name)
    if keyword.iskeyword(cls):
        raise _error(f"`{decl.name}` cannot be a network name: its class would be called "
                     f"`{cls}`, which is Python's", decl.loc, hint=f"e.g. `{decl.name}_net`")
    if cls in _BUILTINS:
        raise _error(f"`{decl.name}` cannot be a network name: its class `{cls}` would hide "
                     f"Python's `{cls}`, which generated code uses", decl.loc,
                     hint=f"e.g. `{decl.name}_net`")
    if cls in _GENERATED_CLASSES:
        raise _error(f"`{decl.name}` cannot be a network name: its class `{cls}` would "
                     f"replace the generated module's own `{cls}`", decl.loc,
                     hint=f"e.g. `{decl.name}_net`")
    if decl.name in _IMPORTED_MODULES:
        raise _error(f"`{decl.name}` cannot be a network name: `{decl.name}.py` would hide the "
                     f"`{decl.name}` module that generated code imports", decl.loc,
                     hint=f"e.g. `{decl.name}_net`")
