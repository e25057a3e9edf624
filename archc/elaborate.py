"""AST → IR: give a parsed spec its meaning.

Elaboration resolves `use` lines, applies `default` options, instantiates blocks with
their arguments, unrolls `×N`, expands each layer word into IR nodes (a hidden conv or FC
layer is followed by the network's activation; the papers' tables leave it out), and
names every node after the scope tree that labels, groups and blocks define. What one
layer word means is in :mod:`archc.layers`; the naming rules are in :mod:`archc.naming`.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, replace
from typing import Mapping

from . import ast, expectations, ir, layers, limits, naming, recipe, sources, vocabulary
from .errors import Diagnostic, Loc, Note, SemanticError, UsageError
from .parser import parse
from .vocabulary import Kind, OptionError



def elaborate(spec: ast.Spec) -> ir.Network:
    """The IR network a parsed spec describes."""
    return _Elaborator(spec).run()


@dataclass(frozen=True)
class _Ctx:
    env: Mapping[str, ast.Value]  # a block's parameters, bound to the caller's values
    stack: tuple[tuple[str, Loc], ...] = ()  # the block instances we are inside
    tail: bool = False  # this item produces an output: no default activation after it
    side: naming.ScopeB | None = None
    depth: int = 0  # how many `{ }` (through block calls) we are inside


def _error(message: str, loc: Loc | None, hint: str | None = None, notes=()) -> SemanticError:
    return SemanticError(message, loc, hint=hint, notes=notes)


class _Elaborator:
    def __init__(self, spec: ast.Spec):
        self.spec = spec
        self.blocks: dict[str, ast.Block] = {}
        self.tables: dict[str, ast.Table] = {}
        self.defaults: dict[str, dict[str, ast.Option]] = {}
        self.activation: str | None = "relu"
        self.init = ir.Init()
        self.nodes: list[naming.NodeB] = []
        self.warnings: list[Diagnostic] = []
        self.sides: list[tuple[naming.ScopeB, naming.NodeB, float | None, Loc]] = []
        self.repeat_groups = itertools.count()
        self.work = 0  # nodes and scopes unrolled so far, against limits.MAX_LAYERS
        self.tokens = spec.tokens  # read so far, `use`d files included: limits.MAX_TOKENS
        self.size = spec.size  # and bytes, against limits.MAX_BYTES

    # -- declarations ----------------------------------------------------------------------

    def run(self) -> ir.Network:
        decl, items, expects, recipe_lines = None, [], [], []
        self._declare(self.spec, stack=(), loaded=set(), main=True)
        for st in self.spec.statements:
            if isinstance(st, ast.Network):
                if decl is not None:
                    raise _error("a spec describes one network", st.loc,
                                 notes=[Note("the first `network` line", decl.loc)])
                decl = st
            elif isinstance(st, ast.Item):
                items.append(st)
            elif isinstance(st, ast.Expect):
                expects.append(st)
            elif isinstance(st, ast.Recipe):
                recipe_lines.append(st)
            elif isinstance(st, ast.Default):
                self._default(st)
            elif isinstance(st, ast.Activation):
                try:
                    self.activation = vocabulary.activation(st.name)
                except OptionError as exc:
                    raise _error(f"unknown activation `{st.name}`", st.loc,
                                 hint=f"use {exc}") from None
            elif isinstance(st, ast.Init):
                self.init = self._init(st)
        if decl is None:
            first = Loc(self.spec.source, 1, 1, 1, 2)
            raise _error("this spec has no `network` line", first,
                         hint="start it with e.g. `network vgg_d input 3x224x224`")
        naming.check_network_name(decl)
        if not items:
            raise _error(f"network `{decl.name}` has no layers", decl.loc)

        shape = decl.input
        if min(shape) < 1:
            raise _error(f"input shape {'×'.join(map(str, shape))} has an empty axis", decl.loc)
        if max(shape) > limits.MAX_SIZE:
            raise _error(f"input shape {'×'.join(map(str, shape))} has an axis longer than "
                         f"{limits.MAX_SIZE:,}", decl.input_loc or decl.loc,
                         hint="archc's limit on any one size (archc.limits.MAX_SIZE)")
        inp = self._add(ir.Input(ir.Shape(*shape)), (), "input", decl.input_loc or decl.loc)
        root = naming.ScopeB("network", decl.loc, text=decl.name)
        out = self._body(tuple(items), inp.id, root, _Ctx(env={}, tail=True))
        self._check_softmax(out)
        names = naming.Namer(self.nodes).finish(root)
        nodes = tuple(
            ir.Node(id=n.id, name=names[n.id], layer=n.layer, inputs=n.inputs, text=n.text,
                    loc=n.loc, implicit=n.implicit,
                    side=n.side.final_path if n.side is not None else None,
                    init=n.init, repeat=n.repeat, labelled=n.id in names.labelled)
            for n in self.nodes)
        sides = tuple(ir.SideOutput(scope.final_path, node.id, weight, loc)
                      for scope, node, weight, loc in self.sides)
        return ir.Network(
            name=decl.name, input=ir.Shape(*shape), nodes=nodes, root=names.root, output=out,
            sides=sides, expects=tuple(expectations.parse_expect(e) for e in expects),
            source=self.spec.source, loc=decl.loc, activation=self.activation or "none",
            init=self.init, spec_warnings=tuple(dict.fromkeys(self.warnings)),
            recipe=recipe.recipe(recipe_lines, shape))

    def _check_softmax(self, out: int) -> None:
        """A soft-max only ends the network or a side output (generated modules leave it to
        the loss, and return logits): one anywhere else is refused."""
        final = set()
        for node_id in [out, *(node.id for _, node, _, _ in self.sides)]:
            node = self.nodes[node_id]
            while isinstance(node.layer, (ir.Softmax, ir.Dropout)):
                final.add(node.id)
                node = self.nodes[node.inputs[0]]
        for node in self.nodes:
            if isinstance(node.layer, ir.Softmax) and node.id not in final:
                raise _error("a soft-max can only end the network or a side output", node.loc,
                             hint="archc leaves the final soft-max to the loss; it has no "
                                  "soft-max inside a network")

    def _declare(self, spec: ast.Spec, stack: tuple[str, ...], loaded: set, main: bool):
        """Collect blocks and tables from ``spec`` and, first, from the files it uses."""
        for st in spec.statements:
            if isinstance(st, ast.Use):
                try:
                    path = sources.find_use(st.path, spec.source)
                    text = sources.read(path, limits.MAX_BYTES - self.size, regular=True).text
                    file = os.stat(path)
                except UsageError as exc:
                    raise _error(exc.message, st.loc, hint=exc.hint) from None
                key = (file.st_dev, file.st_ino)  # one file under two names is one file
                if any(key == used for used, _ in stack):
                    chain = " → ".join([*(name for _, name in stack), path.name])
                    raise _error(f"`use` goes round in a circle: {chain}", st.loc)
                if key in loaded:
                    continue
                loaded.add(key)
                used = parse(text, sources.display_path(path), tokens_before=self.tokens,
                             bytes_before=self.size)
                self.tokens, self.size = used.tokens, used.size
                self._declare(used, stack + ((key, path.name),), loaded, main=False)
            elif isinstance(st, ast.Block):
                self._define(self.blocks, st, "block")
                if not st.body:
                    raise _error(f"block `{st.name}` holds no layers", st.loc,
                                 hint="write `identity` for a block that passes its input on")
                if vocabulary.match(st.name):
                    raise _error(f"`{st.name}` is a layer word and cannot name a block", st.loc)
                naming.check_identifier(st.name, st.loc, "a block name")
                seen = {}
                for p in st.params:
                    if p.name in seen:
                        raise _error(f"block `{st.name}` has two parameters `{p.name}`", p.loc)
                    seen[p.name] = p
            elif isinstance(st, ast.Table):
                self._define(self.tables, st, "table")
                layers.check_table(st)
            elif not main:
                what = type(st).__name__.lower()
                raise _error(f"a file brought in with `use` may hold only blocks and tables, "
                             f"not {'layers' if what == 'item' else f'`{what}` lines'}",
                             getattr(st, "loc", None))

    def _define(self, table: dict, st, what: str):
        previous = table.get(st.name)
        if previous is not None and previous is not st:
            raise _error(f"{what} `{st.name}` is defined twice", st.loc,
                         notes=[Note("first defined here", previous.loc)])
        table[st.name] = st

    def _default(self, st: ast.Default):
        found = vocabulary.match(st.kind)
        kind = vocabulary.BY_NAME.get(st.kind.lower()) or (found[0] if found else None)
        if kind is None or not kind.options:
            with_options = [k.name for k in vocabulary.KINDS if k.options]
            raise _error(f"`default` needs a layer kind with options, not `{st.kind}`", st.kind_loc,
                         hint="one of " + ", ".join(with_options))
        slot = self.defaults.setdefault(kind.name, {})
        for opt in st.options:
            self._check_option(kind, opt)
            slot[opt.key] = opt

    def _init(self, st: ast.Init) -> ir.Init:
        if st.scheme not in ("normal", "default"):
            raise _error(f"unknown init scheme `{st.scheme}`", st.loc,
                         hint="`init normal std=0.01 bias=0`, or `init default` for PyTorch's")
        values = {}
        for opt in st.options:
            if opt.key not in ("std", "bias") or opt.value is None:
                raise _error(f"`init` takes std=... and bias=..., not `{opt.key}`", opt.loc)
            values[opt.key] = vocabulary.typed(vocabulary.number, opt)
        if st.scheme == "normal" and "std" not in values:
            raise _error("`init normal` needs a standard deviation", st.loc,
                         hint="e.g. `init normal std=0.01 bias=0`")
        return ir.Init(st.scheme, values.get("std"), values.get("bias"))

    # -- items -----------------------------------------------------------------------------

    def _body(self, items: tuple[ast.Item, ...], cur: int, scope: naming.ScopeB, ctx: _Ctx) -> int:
        tail = _tail_index(items) if ctx.tail else -1
        for i, item in enumerate(items):
            cur = self._item(item, cur, scope, replace(ctx, tail=i == tail))
        return cur

    def _item(self, item: ast.Item, cur: int, scope: naming.ScopeB, ctx: _Ctx) -> int:
        thing = item.thing
        label, label_loc = item.label, item.label_loc
        if isinstance(thing, ast.Group) and thing.name is not None:
            if label is not None:
                raise _error(f"this group is named twice (`{label}` and `{thing.name}`)", item.loc)
            label, label_loc = thing.name, thing.loc
        numbered = re.fullmatch(r"([\w-]*?)\{(\d+)\}", label) if label is not None else None
        nested = scope.kind != "network"  # a submodule's name may hold hyphens
        if label is not None and numbered is None:
            naming.check_identifier(label, label_loc, "a label", hyphens=nested)
        count = item.repeat if item.repeat is not None else 1
        if count < 1:
            raise _error("a repeat count must be at least 1", item.repeat_loc)
        if count > limits.MAX_REPEAT:
            raise _error(f"a repeat count must be at most {limits.MAX_REPEAT:,}", item.repeat_loc,
                         hint="archc's limit (archc.limits.MAX_REPEAT)")
        group = next(self.repeat_groups) if count > 1 else None
        for r in range(count):
            if numbered is not None:  # `denselayer{1}`: the copies count from 1
                copy_label = f"{numbered.group(1)}{int(numbered.group(2)) + r}"
                if not numbered.group(1) and not nested:
                    raise _error(f"`{label}` names a submodule by its position, which only "
                                 f"the layers of a group, block or branch have", label_loc,
                                 hint="at the top level, give it a name: e.g. `stage{0}:`")
                if numbered.group(1):  # `{0}` alone: a position's name, as in a Sequential
                    naming.check_identifier(copy_label, label_loc, "a label", hyphens=nested)
            else:
                copy_label = label if count == 1 or label is None else f"{label}_{r + 1}"
            repeat = ir.Repeat(group, r, count) if group is not None else None
            cur = self._thing(thing, copy_label, label_loc, cur, scope,
                              replace(ctx, tail=ctx.tail and r == count - 1), repeat)
        return cur

    def _thing(self, thing: ast.Thing, label, label_loc, cur, scope, ctx, repeat) -> int:
        if isinstance(thing, ast.Layer):
            found = vocabulary.match(thing.word)
            if found is not None:
                return self._layer(thing, *found, label, label_loc, cur, scope, ctx, repeat)
            if thing.word in self.blocks:
                return self._instance(thing, label, label_loc, cur, scope, ctx, repeat)
            raise self._unknown_word(thing, ctx)
        # A scope: it counts toward the limits too.
        self._spend(thing.loc)
        ctx = replace(ctx, depth=self._deeper(ctx, thing.loc))
        if isinstance(thing, ast.Group):
            if not thing.body:
                raise _error(f"{f'`{label}`' if label else 'this group'} holds no layers",
                             thing.loc, hint="remove it, or write `identity` for a layer "
                                             "that passes its input on unchanged")
            if label is None:  # an anonymous group only groups for `×N`
                return self._body(thing.body, cur, scope, ctx)
            join = _JOIN_LOOKALIKES.get(thing.name.lower()) if thing.name else None
            if join is not None:
                self.warnings.append(Diagnostic(
                    f"`{thing.name} {{ }}` is a group called `{thing.name}`: its layers run one "
                    f"after the other, not side by side", thing.loc,
                    hint=f"{join[0]} is `{join[1]} {{ ... }}`; to keep the group, label it: "
                         f"`{thing.name}: {{ ... }}`"))
            group = naming.ScopeB("group", thing.loc, text=label, repeat=repeat)
            scope.add_scope(group, label, label_loc)
            return self._body(thing.body, cur, group, ctx)
        if isinstance(thing, ast.Concat):
            return self._concat(thing, label, label_loc, cur, scope, ctx, repeat)
        if isinstance(thing, ast.Add):
            return self._add_join(thing, label, label_loc, cur, scope, ctx, repeat)
        return self._side(thing, label, label_loc, cur, scope, ctx, repeat)

    def _spend(self, loc: Loc) -> None:
        """Count one layer or scope toward the limit on how large a network may unroll."""
        self.work += 1
        if self.work > limits.MAX_LAYERS:
            raise _error(f"this network unrolls to more than {limits.MAX_LAYERS:,} layers and "
                         f"scopes", loc,
                         hint="archc's limit (archc.limits.MAX_LAYERS): look for a ×N or a "
                              "block call that multiplies more than intended")

    @staticmethod
    def _deeper(ctx: _Ctx, loc: Loc) -> int:
        """The depth of a scope opened inside ``ctx``, within limits.MAX_NESTING."""
        if ctx.depth >= limits.MAX_NESTING:
            raise _error(f"scopes nest more than {limits.MAX_NESTING} deep here "
                         f"(through block calls)", loc,
                         hint="archc's limit (archc.limits.MAX_NESTING): does a block call a "
                              "chain of blocks deeper than intended?")
        return ctx.depth + 1

    def _unknown_word(self, layer: ast.Layer, ctx: _Ctx) -> SemanticError:
        guess = vocabulary.suggest(layer.word, list(self.blocks))
        if layer.word in ("train", "schedule", "augment", "evaluate"):
            hint = f"`{layer.word}` lines belong at the top level of a file, not inside `{{ }}`"
        elif guess:
            hint = f"did you mean `{guess}`?"
        elif layer.args or layer.keywords:
            hint = "no block of that name is defined here or in a `use`d file"
        else:
            hint = "layers look like conv3-64, maxpool, FC-4096, LRN, dropout, soft-max"
        return _error(f"unknown layer `{layer.word}`", layer.word_loc, hint=hint)

    def _concat(self, thing: ast.Concat, label, label_loc, cur, scope, ctx, repeat) -> int:
        if len(thing.body) < 2:
            raise _error("`concat` needs two or more branches", thing.loc,
                         hint="each line (or `;`-separated item) inside `concat { }` is a branch")
        shuffle = None
        for opt in thing.options:
            if opt.key != "shuffle":
                raise _error(f"`concat` takes only shuffle=..., not `{opt.key}`", opt.loc,
                             hint="shuffle=2: the joined maps dealt out of 2 groups in turn "
                                  "(ShuffleNet's unit)")
            shuffle = vocabulary.typed(vocabulary.positive, opt)
        joined = naming.ScopeB("concat", thing.loc, text="concat", repeat=repeat)
        scope.add_scope(joined, label, label_loc)
        outputs = []
        concat = thing
        for item in thing.body:
            if isinstance(item.thing, ast.Side):
                raise _error("a side output cannot be a branch of `concat`", item.loc)
            branch_label, inner_item = _branch(item)
            target = joined
            if branch_label is not None:
                target = naming.ScopeB("branch", item.loc, text=branch_label)
                joined.add_scope(target, branch_label, item.label_loc or item.loc)
            outputs.append(self._item(inner_item, cur, target, replace(ctx, tail=False)))
        node = self._add(ir.Concat(), tuple(outputs), "concat", concat.loc, ctx)
        joined.add_node(node)
        if shuffle is None:
            return node.id
        after = self._add(ir.ChannelShuffle(shuffle), (node.id,), f"shuffle({shuffle})",
                          thing.loc, ctx, implicit=True, repeat=repeat)
        joined.add_node(after)
        return after.id

    def _add_join(self, thing: ast.Add, label, label_loc, cur, scope, ctx, repeat) -> int:
        """`add { ... }`: branches from the same input, summed.  A labelled branch is a
        submodule of its own (`downsample { conv1-256/2; bn }`); an unlabelled one lies in
        the join's scope itself, its layers named by kind, so that a residual unit reads
        `conv1, bn1, ..., downsample` as torchvision's do.  A branch's last layer gets no
        activation; the sum gets the network's, unless `act=` says otherwise.
        `mul { ... }` is the same join with a product, and no activation after it unless
        `act=` gives one: squeeze-and-excitation's gate scales the maps it multiplies."""
        word = thing.op
        function = None if ctx.tail or word == "mul" else self.activation
        for opt in thing.options:
            if opt.key != "act":
                raise _error(f"`{word}` takes only act=..., not `{opt.key}`", opt.loc,
                             hint=f"act=relu, act=none, ...: the activation after the "
                                  f"{'sum' if word == 'add' else 'product'}")
            function = vocabulary.typed(vocabulary.activation, opt)
        if len(thing.body) < 2:
            raise _error(f"`{word}` needs two or more branches", thing.loc,
                         hint="a residual unit is `add { { conv3-64; conv3-64 }; identity }`"
                         if word == "add" else "squeeze-and-excitation is `mul { identity; "
                         "{ gap; conv1-16; conv1-64 act=sigmoid } }`")
        joined = naming.ScopeB(word, thing.loc, text=word, repeat=repeat)
        scope.add_scope(joined, label, label_loc)
        outputs = []
        for item in thing.body:
            if isinstance(item.thing, ast.Side):
                raise _error(f"a side output cannot be a branch of `{word}`", item.loc)
            branch_label, inner_item = _branch(item)
            target = joined
            if branch_label is not None:
                target = naming.ScopeB("branch", item.loc, text=branch_label)
                joined.add_scope(target, branch_label, item.label_loc or item.loc)
            outputs.append(self._item(inner_item, cur, target, replace(ctx, tail=True)))
        node = self._add(ir.Mul() if word == "mul" else ir.Add(), tuple(outputs), word,
                         thing.loc, ctx)
        joined.add_node(node)
        if function is None:
            return node.id
        after = self._add(ir.Activation(function), (node.id,), function.replace("_", "-"),
                          thing.loc, ctx, implicit=True, repeat=repeat)
        joined.add_node(after)
        return after.id

    def _side(self, thing: ast.Side, label, label_loc, cur, scope, ctx, repeat) -> int:
        if ctx.side is not None:
            raise _error("a side output cannot contain another", thing.loc)
        if scope.kind != "network":
            raise _error("a side output must be at the top level of the network, not inside "
                         f"a {'branch' if scope.kind == 'branch' else scope.kind}", thing.loc,
                         hint="side outputs branch off the main path between its top-level "
                              "layers, as GoogLeNet's aux1 does after inception4a")
        weight = None
        for opt in thing.options:
            if opt.key != "weight":
                raise _error(f"`side` takes only weight=..., not `{opt.key}`", opt.loc)
            weight = vocabulary.typed(vocabulary.number, opt)
        side = naming.ScopeB("side", thing.loc, text="side", repeat=repeat)
        scope.add_scope(side, label, label_loc)
        inner = replace(ctx, tail=True, side=side)
        if isinstance(thing.body, ast.Group):
            out = self._body(thing.body.body, cur, side, inner)
        else:
            out = self._thing(thing.body, None, None, cur, side, inner, None)
        if out == cur:
            raise _error("this side output has no layers", thing.loc)
        self.sides.append((side, self.nodes[out], weight, thing.loc))
        return cur  # the main path carries on from where the side output branched off

    # -- block instances -------------------------------------------------------------------

    def _instance(self, call: ast.Layer, label, label_loc, cur, scope, ctx, repeat) -> int:
        block = self.blocks[call.word]
        self._spend(call.loc)
        chain = [name for name, _ in ctx.stack]
        if block.name in chain:
            path = " → ".join(chain[chain.index(block.name):] + [block.name])
            raise _error(f"block `{block.name}` uses itself ({path})", call.word_loc)
        if call.stride is not None or call.options:
            raise _error(f"block `{block.name}` takes its arguments in parentheses", call.loc,
                         hint=f"e.g. {block.name}(" + ", ".join(p.name for p in block.params) + ")")
        env = self._bind(block, call, ctx)
        # The call as written, its parameters' values substituted and the defaults it left
        # out named: `basic_down(128, s=2)`, so that a note shows what was really built.
        given = len(call.args)
        text = f"{block.name}(" + ", ".join(
            env[p.name].text if i < given else f"{p.name}={env[p.name].text}"
            for i, p in enumerate(block.params)) + ")"
        instance = naming.ScopeB("block", call.loc, text=text, block=block.name, repeat=repeat)
        scope.add_scope(instance, label, label_loc)
        inner = _Ctx(env=env, stack=ctx.stack + ((block.name, call.loc),), tail=ctx.tail,
                     side=ctx.side, depth=self._deeper(ctx, call.loc))
        try:
            return self._body(block.body, cur, instance, inner)
        except SemanticError as exc:
            raise exc.with_note(Note(f"in `{text}`", call.loc)) from None

    def _bind(self, block: ast.Block, call: ast.Layer, ctx: _Ctx) -> dict[str, ast.Value]:
        params = block.params
        signature = f"{block.name}(" + ", ".join(p.name for p in params) + ")"
        defined = [Note(f"`{signature}` is defined here", block.loc)]
        if len(call.args) > len(params):
            extra = call.args[len(params)]
            raise _error(f"`{block.name}` takes {len(params)} argument"
                         f"{'s' if len(params) != 1 else ''}, but {len(call.args)} were given",
                         extra.loc, notes=defined)
        env = {p.name: _subst(v, ctx) for p, v in zip(params, call.args)}
        names = [p.name for p in params]
        for kw in call.keywords:
            if kw.key not in names:
                raise _error(f"`{block.name}` has no parameter `{kw.key}`", kw.loc, notes=defined)
            if kw.key in env:
                raise _error(f"argument `{kw.key}` is given twice", kw.loc)
            env[kw.key] = _subst(kw.value, ctx)
        for p in params:
            if p.name not in env:
                if p.default is None:
                    raise _error(f"`{block.name}` is missing argument `{p.name}`", call.loc,
                                 hint=f"call it as {signature}", notes=defined)
                env[p.name] = p.default
        return env

    # -- layers ----------------------------------------------------------------------------

    def _layer(self, layer: ast.Layer, kind: Kind, said: dict[str, str], label, label_loc,
               cur, scope, ctx, repeat) -> int:
        options = self._options(layer, kind, ctx)
        values = {key: opt for key, opt in self.defaults.get(kind.name, {}).items()}
        values.update(options)
        word = {k: _subst_word(v, ctx) for k, v in said.items()}
        for key, written in said.items():
            if word[key] != written:  # a block parameter: check its value here, once
                layers.word_int(word[key], layer, key, parameter=written)
        if layer.stride is not None:
            if "stride" not in kind.options:
                raise _error(f"`{layer.word}` has no stride", layer.stride.loc,
                             hint="only sliding windows — convolutions, pooling and "
                                  "subsampling — take `/N`")
            if "stride" in options:
                raise _error("the stride is given twice (`/…` and `stride=`)", options["stride"].loc)
            values["stride"] = ast.Option("stride", _subst(layer.stride, ctx), layer.stride.loc)
        typed = {key: vocabulary.typed(kind.options[key], opt) for key, opt in values.items()}
        ir_layer = layers.build(kind.name, layers.Said(layer, word, typed, values),
                                layers.Declared(self.tables, self.warnings.append))
        text = _render(layer, ctx)
        init = None
        if kind.weighted:
            init = ir.Init(self.init.scheme, typed.get("std", self.init.std),
                           typed.get("bias_init", self.init.bias))
        node = self._add(ir_layer, (cur,), text, layer.loc, ctx, init=init, repeat=repeat)
        scope.add_node(node, label, label_loc)
        cur = node.id
        if typed.get("bn"):  # with the `default bn` options, as a written `bn` would have
            bn_kind = vocabulary.BY_NAME["bn"]
            bn_typed = {key: vocabulary.typed(bn_kind.options[key], opt)
                        for key, opt in self.defaults.get("bn", {}).items()}
            bn = ir.BatchNorm(bn_typed.get("eps", 1e-5), bn_typed.get("momentum", 0.1))
            cur = self._follower(bn, "bn", layer, cur, scope, ctx, repeat)
        if kind.weighted:
            if "act" in options:  # written on the layer itself: always honoured
                function = typed["act"]
            elif ctx.tail:  # an output layer: logits, not activations
                function = None
            else:
                function = typed.get("act", self.activation)
            if function is not None:
                cur = self._follower(ir.Activation(function), function.replace("_", "-"),
                                     layer, cur, scope, ctx, repeat)
        return cur

    def _follower(self, layer_ir, text, layer: ast.Layer, cur, scope, ctx, repeat) -> int:
        node = self._add(layer_ir, (cur,), text, layer.loc, ctx, implicit=True, repeat=repeat)
        scope.add_node(node)
        return node.id

    def _options(self, layer: ast.Layer, kind: Kind, ctx: _Ctx) -> dict[str, ast.Option]:
        given: dict[str, ast.Option] = {}
        if len(layer.args) > len(kind.positional):
            extra = layer.args[len(kind.positional)]
            takes = (f"takes at most {len(kind.positional)} argument(s): "
                     + ", ".join(kind.positional)) if kind.positional else "takes no arguments"
            raise _error(f"`{layer.word}` {takes}", extra.loc,
                         hint=_arguments_hint(layer, kind, extra))
        for key, value in zip(kind.positional, layer.args):  # `dropout(p)`: p may be a parameter
            given[key] = ast.Option(key, _subst(value, ctx), value.loc)
        for opt in (*layer.keywords, *layer.options):
            self._check_option(kind, opt)
            if opt.key in given:
                raise _error(f"option `{opt.key}` is given twice", opt.loc)
            given[opt.key] = replace(opt, value=_subst(opt.value, ctx) if opt.value else None)
        return given

    def _check_option(self, kind: Kind, opt: ast.Option):
        if opt.key in kind.options:
            return
        if opt.value is None and (vocabulary.match(opt.key) or opt.key in self.blocks):
            raise _error(f"`{opt.key}` is not an option of `{kind.example}`-style layers",
                         opt.loc, hint="put one layer per line, or separate layers with `;`")
        guess = vocabulary.suggest_option(opt.key, kind)
        allowed = ", ".join(kind.options) or "none"
        raise _error(f"`{kind.name}` layers have no option `{opt.key}`", opt.loc,
                     hint=f"did you mean `{guess}`?" if guess else f"options: {allowed}")

    def _add(self, layer, inputs, text, loc, ctx=None, implicit=False, init=None, repeat=None):
        self._spend(loc)
        node = naming.NodeB(len(self.nodes), layer, tuple(inputs), text, loc, implicit=implicit,
                            side=ctx.side if ctx else None, init=init, repeat=repeat)
        self.nodes.append(node)
        return node


# -- helpers -------------------------------------------------------------------------------


# Group names that read as a join other notations spell so (`multiply { }`): a group
# runs its layers in sequence, so archc says what the name does not.
_JOIN_LOOKALIKES = {
    **dict.fromkeys(("multiply", "mult", "product", "prod", "times", "scale", "gate"),
                    ("a product of branches", "mul")),
    **dict.fromkeys(("sum", "plus", "residual", "eltwise"), ("a sum of branches", "add")),
    **dict.fromkeys(("cat", "concatenate", "stack", "chunk", "split", "parallel",
                     "branches"), ("branches side by side", "concat")),
}


def _branch(item: ast.Item) -> tuple[str | None, ast.Item]:
    """A branch of a join: its name (a label, or a group's name), checked, and the item
    that fills it, without the name."""
    label = item.label
    if isinstance(item.thing, ast.Group) and item.thing.name is not None:
        label = item.thing.name
    if label is not None:
        naming.check_identifier(label, item.label_loc or item.loc, "a branch name",
                                block_word=True)
    thing = replace(item.thing, name=None) if isinstance(item.thing, ast.Group) else item.thing
    return label, replace(item, label=None, label_loc=None, thing=thing)


def _tail_index(items: tuple[ast.Item, ...]) -> int:
    """The item whose output is the body's output (soft-max, dropout and side outputs
    after it do not count): the place where the default activation is left out."""
    for i in range(len(items) - 1, -1, -1):
        thing = items[i].thing
        if isinstance(thing, ast.Side):
            continue
        if isinstance(thing, ast.Layer):
            found = vocabulary.match(thing.word)
            if found and found[0].name in ("softmax", "dropout"):
                continue
        return i
    return -1


def _arguments_hint(layer: ast.Layer, kind: Kind, extra: ast.Value) -> str:
    """How to say what a layer was given in parentheses it does not take."""
    if kind.positional:
        return "e.g. `" + kind.example + "(" + ", ".join(kind.positional) + ")`"
    if "kernel" in kind.match(kind.example).re.groupindex and "kernel" not in \
            (vocabulary.match(layer.word) or (None, {}))[1] and extra.text.isdigit():
        return f"the window size goes in the word: `{layer.word}{extra.text}`"
    if kind.options:
        option = "stride" if "stride" in kind.options else next(iter(kind.options))
        return f"options follow the word as key=value, e.g. `{layer.word} {option}=...`"
    return f"write just `{layer.word}`"


def _subst(value: ast.Value | None, ctx: _Ctx) -> ast.Value | None:
    """A value with a block parameter replaced by its argument."""
    if value is None:
        return None
    return ctx.env.get(value.text, value)


def _subst_word(part: str, ctx: _Ctx) -> str:
    """Part of a layer word (`n3x3` in `conv3-n3x3`) with a block parameter replaced."""
    if part in ctx.env:
        return ctx.env[part].text
    return part


def _render(layer: ast.Layer, ctx: _Ctx) -> str:
    """The layer as written, with block parameters replaced by their values."""
    found = vocabulary.match(layer.word)
    word = layer.word
    if found and ctx.env:
        match = found[0].match(word)
        pieces, last = [], 0
        for group in match.re.groupindex:
            start, end = match.span(group)
            if start >= 0:
                pieces += [word[last:start], _subst_word(word[start:end], ctx)]
                last = end
        word = "".join(pieces) + word[last:]
    text = word
    args = [_subst(v, ctx).text for v in layer.args]
    args += [f"{o.key}={_subst(o.value, ctx).text}" for o in layer.keywords]
    if args or (layer.args or layer.keywords):
        text += "(" + ", ".join(args) + ")"
    if layer.stride is not None:
        text += "/" + _subst(layer.stride, ctx).text
    for opt in layer.options:
        text += f" {opt.key}" + (f"={_subst(opt.value, ctx).text}" if opt.value else "")
    return text
