"""What the language server knows about one open spec: archc's own analysis of its text,
and the answers an editor asks for, in archc's terms (1-based lines and columns, as
errors.Loc has them); archc/lsp/server.py turns them into the protocol's.

Everything here takes an :class:`Analysis` — the document analysed once per change —
and never raises: text that does not parse still has diagnostics, symbols of what did,
completion; what cannot be answered is None or empty.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import analysis as analysis_stage
from .. import ast, ir, parser, recipe, sources, verify, vocabulary
from ..errors import ArchcError, Loc, Source, SpecError

ERROR, WARNING, INFORMATION = "error", "warning", "information"


@dataclass(frozen=True)
class Span:
    """A range of a document: 1-based line and column, end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def of(loc: Loc) -> "Span":
        end_line = loc.end_line or loc.line
        end_column = loc.end_column if loc.end_column > 0 else loc.column + 1
        if end_line == loc.line and end_column <= loc.column:
            end_column = loc.column + 1
        return Span(loc.line, loc.column, end_line, end_column)

    def holds(self, line: int, column: int) -> bool:
        return (self.line, self.column) <= (line, column) and \
            (line, column) < (self.end_line, self.end_column)


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    severity: str
    message: str
    related: tuple[tuple[str, Span, str], ...] = ()  # (path, span, message) of each note


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # network | block | table | group | side | layer
    span: Span
    detail: str = ""
    children: tuple["Symbol", ...] = ()


@dataclass
class Analysis:
    """One document's text, parsed and analysed as archc analyses a spec."""

    path: str
    text: str
    spec: ast.Spec | None = None
    net: ir.Network | None = None
    error: ArchcError | None = None
    outcomes: list = field(default_factory=list)
    used: dict[str, ast.Spec] = field(default_factory=dict)  # the files it `use`s, parsed
    # Each file's `use` lines (the document's under its own path) and the files they
    # resolve to, where they do.
    links: dict[str, list[tuple[ast.Use, str]]] = field(default_factory=dict)


def analyse(path: str, text: str) -> Analysis:
    """The document at ``path`` holding ``text`` (perhaps not yet saved), analysed."""
    from .. import api

    result = Analysis(path, text)
    try:
        result.spec = parser.parse(text, path)
    except ArchcError as exc:
        result.error = exc
        return result
    result.used, result.links = _used(result.spec)
    try:
        result.net = api.analyze(Source(path, text))
        result.outcomes = verify.check(result.net)
    except ArchcError as exc:
        result.error = exc
    except RecursionError:  # archc's limits keep nesting shallow; never a crash here
        result.error = ArchcError("this spec nests too deeply to analyse")
    return result


def _used(spec: ast.Spec) -> tuple[dict[str, ast.Spec], dict[str, list[tuple[ast.Use, str]]]]:
    """The files ``spec`` uses (and those they use), parsed, by the path they resolve to;
    and each file's `use` lines with the paths they resolve to."""
    found: dict[str, ast.Spec] = {}
    links: dict[str, list[tuple[ast.Use, str]]] = {}
    todo = [spec]
    while todo and len(found) < 64:
        current = todo.pop()
        here = links.setdefault(current.source.path, [])
        for statement in current.statements:
            if not isinstance(statement, ast.Use):
                continue
            try:
                path = str(sources.find_use(statement.path, current.source))
            except ArchcError:
                continue
            here.append((statement, path))
            if path in found:
                continue
            try:
                used = parser.parse(sources.read(Path(path), regular=True).text, path)
            except ArchcError:
                continue
            found[path] = used
            todo.append(used)
    return found, links


@functools.lru_cache(maxsize=4096)
def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _here(result: Analysis, loc: Loc | None) -> bool:
    return loc is not None and (loc.path == result.path or _same_file(loc.path, result.path))


# -- diagnostics --------------------------------------------------------------------------------


def diagnostics(result: Analysis) -> list[Diagnostic]:
    """Every error and warning archc gives for the document, and each `expect` line that
    does not hold; an error in a file the document uses is shown at its `use` line."""
    out: list[Diagnostic] = []
    if result.error is not None:
        out.append(_from_error(result, result.error))
    if result.net is not None:
        for warning in result.net.warnings:
            span, message = _place(result, warning.loc, warning.message)
            out.append(Diagnostic(span, WARNING, message + (f"\nhint: {warning.hint}"
                                                            if warning.hint else "")))
        for outcome in result.outcomes:
            if outcome.holds:
                continue
            span, message = _place(result, outcome.expectation.loc, outcome.message)
            out.append(Diagnostic(span, INFORMATION if outcome.expectation.disputed else ERROR,
                                  message))
    return out


def _from_error(result: Analysis, exc: ArchcError) -> Diagnostic:
    loc = exc.loc if isinstance(exc, SpecError) else None
    span, message = _place(result, loc, exc.message)
    if exc.hint:
        message += f"\nhint: {exc.hint}"
    related = tuple((note.loc.path, Span.of(note.loc), note.message)
                    for note in getattr(exc, "notes", ()) if note.loc is not None)
    return Diagnostic(span, ERROR, message, related)


def _place(result: Analysis, loc: Loc | None, message: str) -> tuple[Span, str]:
    """Where a message about ``loc`` goes in this document: there, or — for a place in a
    file it uses — at the `use` line (the first, if archc cannot tell which), naming
    the place; with no place, the first line."""
    if _here(result, loc):
        return Span.of(loc), message
    if loc is not None and result.spec is not None:
        for use, path in result.links.get(result.path, []):
            if _same_file(path, loc.path) or _reaches(result, path, loc.path):
                return Span.of(use.loc), f"{loc}: {message}"
        uses = [s for s in result.spec.statements if isinstance(s, ast.Use)]
        if uses:
            return Span.of(uses[0].loc), f"{loc}: {message}"
    return Span(1, 1, 1, max(2, len(result.text.split("\n", 1)[0]) + 1)), \
        (f"{loc}: {message}" if loc is not None else message)


def _reaches(result: Analysis, start: str, target: str) -> bool:
    """Whether the used file ``start`` uses ``target``, directly or not."""
    seen, todo = set(), [start]
    while todo:
        here = todo.pop()
        if here in seen or here not in result.used:
            continue
        seen.add(here)
        for _, path in result.links.get(here, []):
            if _same_file(path, target):
                return True
            todo.append(path)
    return False


# -- what a place in the document is ------------------------------------------------------------


def _items(body, inside_block: str | None = None):
    """Every item of a body, nested ones too: (item, the block it lies in, or None)."""
    for item in body:
        yield item, inside_block
        thing = item.thing
        inner = thing.body if isinstance(thing, (ast.Group, ast.Concat, ast.Add)) else \
            (thing.body.body if isinstance(thing, ast.Side) and isinstance(thing.body, ast.Group)
             else ())
        yield from _items(inner, inside_block)
        if isinstance(thing, ast.Side) and isinstance(thing.body, ast.Layer):
            yield ast.Item(None, None, thing.body, None, None, thing.body.loc), inside_block


def _all_items(spec: ast.Spec):
    for statement in spec.statements:
        if isinstance(statement, ast.Item):
            yield from _items((statement,))
        elif isinstance(statement, ast.Block):
            yield from _items(statement.body, statement.name)


def _defined(result: Analysis, kind: type) -> dict:
    """The blocks (or tables) the document can call, by name: its own and its files'."""
    found = {}
    for spec in [*result.used.values(), *([result.spec] if result.spec else [])]:
        for statement in spec.statements:
            if isinstance(statement, kind):
                found[statement.name] = statement
    return found


def _blocks(result: Analysis) -> dict[str, ast.Block]:
    return _defined(result, ast.Block)


def _tables(result: Analysis) -> dict[str, ast.Table]:
    return _defined(result, ast.Table)


def _word_at(result: Analysis, line: int, column: int) -> ast.Layer | None:
    if result.spec is None:
        return None
    for item, _ in _all_items(result.spec):
        layer = item.thing
        if isinstance(layer, ast.Layer) and Span.of(layer.word_loc).holds(line, column):
            return layer
    return None


def _nodes_at(result: Analysis, line: int, column: int) -> list[ir.Node]:
    """The nodes written at a place (several where a block's body is instantiated more
    than once), the layer written there first, archc's implicit ones after it."""
    if result.net is None:
        return []
    found = [n for n in result.net.nodes if n.id != 0 and _here(result, n.loc)
             and Span.of(n.loc).holds(line, column)]
    return sorted(found, key=lambda n: (n.implicit, n.id))


def _scopes_at(result: Analysis, line: int, column: int) -> list[ir.Scope]:
    if result.net is None:
        return []
    return [s for s in result.net.root.walk() if s.block is not None and s.loc is not None
            and _here(result, s.loc) and Span.of(s.loc).holds(line, column)]


# -- hover ---------------------------------------------------------------------------------------


def hover(result: Analysis, line: int, column: int) -> str | None:
    """Markdown about what lies at a place: a layer, a block call, an `expect` line, a
    recipe line; None where there is nothing to say."""
    if result.spec is None:
        return None
    for statement in result.spec.statements:
        if isinstance(statement, ast.Expect) and Span.of(statement.loc).holds(line, column):
            return _hover_expect(result, statement)
        if isinstance(statement, ast.Recipe) and Span.of(statement.loc).holds(line, column):
            return _hover_recipe(result, statement)
    nodes = _nodes_at(result, line, column)
    word = _word_at(result, line, column)
    if nodes and (word is None or word.word not in _blocks(result)):
        return _hover_layer(result, nodes)
    scopes = _scopes_at(result, line, column)
    if scopes:
        return _hover_block(result, scopes)
    if word is not None and word.word in _blocks(result):
        block = _blocks(result)[word.word]
        return f"```arch\n{_signature(block)}\n```\n(not instantiated here)"
    return None


def _hover_layer(result: Analysis, nodes: list[ir.Node]) -> str:
    first = nodes[0]
    written = [n for n in nodes if not n.implicit]
    shown = written[0] if written else first
    instances = [n for n in nodes if n.text == shown.text and n.implicit == shown.implicit]
    info = shown.info
    lines = [f"**{shown.name}** `{shown.text}`"]
    implicit = [n for n in nodes if n.implicit and n.inputs and n.inputs[0] == shown.id]
    if implicit:
        lines.append(f"followed by archc's `{implicit[0].text}` (the network's activation)")
    lines += [f"output: {info.shape}", f"params: {info.params:,}", f"MACs: {info.macs:,}"]
    if info.rf is not None:
        lines.append(f"receptive field: {verify.format_rf(info.rf)} (size/stride/padding)")
    if len(instances) > 1:
        lines.append(f"{len(instances)} instances here: " +
                     ", ".join(n.name for n in instances[:6]) +
                     (", …" if len(instances) > 6 else ""))
    return "  \n".join(lines)


def _hover_block(result: Analysis, scopes: list[ir.Scope]) -> str:
    scope = scopes[-1]  # the innermost call at this place
    block = _blocks(result).get(scope.block or "")
    ids = set(scope.node_ids())
    sums = analysis_stage.totals(result.net, ids)
    last = result.net.nodes[max(ids)] if ids else None
    lines = [f"```arch\n{_signature(block) if block else scope.text}\n```",
             f"**{scope.path}** `{scope.text}`"]
    if last is not None:
        lines.append(f"output: {last.info.shape}")
    lines += [f"params: {sums.params:,}", f"MACs: {sums.macs:,}"]
    calls = [s for s in scopes if s.loc == scope.loc]
    if len(calls) > 1:
        lines.append(f"{len(calls)} instances")
    return "  \n".join(lines)


def _signature(block: ast.Block) -> str:
    params = ", ".join(p.name + (f"={p.default.text}" if p.default else "") for p in block.params)
    return f"block {block.name}({params})"


def _hover_expect(result: Analysis, statement: ast.Expect) -> str | None:
    for outcome in result.outcomes:
        if outcome.expectation.loc.line == statement.loc.line and \
                _here(result, outcome.expectation.loc):
            verdict = "holds" if outcome.holds else (
                "disputed" if outcome.expectation.disputed else "does not hold")
            return f"**{verdict}** — {outcome.message}"
    return None


_RECIPE_MEANING = {
    "train": "how the network is trained: the optimiser, its learning rate, batch and epochs",
    "schedule": "how the learning rate changes during training",
    "augment": "how training images are rescaled, cropped and distorted",
    "evaluate": "how test images are scored (the paper's test protocol)",
}


def _hover_recipe(result: Analysis, statement: ast.Recipe) -> str:
    lines = [f"**{statement.kind}**: {_RECIPE_MEANING.get(statement.kind, '')}"]
    if result.net is not None and result.net.recipe is not None:
        r = result.net.recipe
        if statement.kind == "train":
            lines.append(f"{r.optimizer}, lr {r.lr:g}, batch {r.batch} (global), "
                         f"{r.epochs} epochs")
        values = {"schedule": r.schedule, "augment": r.augment, "evaluate": r.evaluation}
        if statement.kind in values:
            shown = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(values[statement.kind]).items()
                              if k != "loc" and v not in (None, (), False))
            lines.append(shown)
    lines.append(f"e.g. `{recipe.words()[statement.kind][2]}`")
    return "  \n".join(lines)


# -- inlay hints -----------------------------------------------------------------------------------


def inlay_hints(result: Analysis) -> list[tuple[int, int, str]]:
    """(line, column, label): at the end of each line of the document's network that
    makes layers, the output shape of its last one, and its params where it has any
    (a `×N` line, or a block call's, its totals).  Lines inside a block body, which
    stand for every call, have none."""
    if result.net is None:
        return []
    net = result.net
    by_line: dict[int, list[ir.Node]] = {}
    for node in net.nodes[1:]:
        if _here(result, node.loc) and not _in_block_body(result, node):
            by_line.setdefault(node.loc.line, []).append(node)
    for scope in net.root.walk():
        if scope.block is not None and scope.loc is not None and _here(result, scope.loc):
            by_line.setdefault(scope.loc.line, []).extend(net.nodes[i] for i in scope.node_ids())
    lines = result.text.split("\n")
    hints = []
    for line, nodes in sorted(by_line.items()):
        nodes = sorted({n.id: n for n in nodes}.values(), key=lambda n: n.id)
        last = nodes[-1]
        params = sum(n.info.params for n in nodes)
        label = f"→ {last.info.shape}" + (f" · {params:,} params" if params else "")
        code = lines[line - 1].split("#", 1)[0].rstrip() if line <= len(lines) else ""
        hints.append((line, len(code) + 1, label))
    return hints


def _in_block_body(result: Analysis, node: ir.Node) -> bool:
    for block in _blocks(result).values():
        if _here(result, block.loc) and Span.of(block.loc).holds(node.loc.line, node.loc.column):
            return True
    return False


# -- definitions, references, symbols ----------------------------------------------------------------


def definition(result: Analysis, line: int, column: int) -> tuple[str, Span] | None:
    """Where the block called, the table named or the file used at a place is defined."""
    if result.spec is None:
        return None
    for use, path in result.links.get(result.path, []):
        if Span.of(use.loc).holds(line, column):
            return path, Span(1, 1, 1, 1)
    word = _word_at(result, line, column)
    blocks = _blocks(result)
    if word is not None and word.word in blocks:
        block = blocks[word.word]
        return block.loc.path, Span.of(block.loc)
    tables = _tables(result)
    for item, _ in _all_items(result.spec):
        layer = item.thing
        if not isinstance(layer, ast.Layer):
            continue
        for option in layer.options:
            if option.key == "table" and option.value is not None and \
                    Span.of(option.loc).holds(line, column) and option.value.text in tables:
                table = tables[option.value.text]
                return table.loc.path, Span.of(table.loc)
    return None


def references(result: Analysis, line: int, column: int) -> list[tuple[str, Span]]:
    """Every call, in the document, of the block defined or called at a place."""
    if result.spec is None:
        return []
    name = None
    word = _word_at(result, line, column)
    if word is not None and word.word in _blocks(result):
        name = word.word
    for statement in result.spec.statements:
        if isinstance(statement, ast.Block) and Span.of(statement.loc).holds(line, column) \
                and statement.loc.line == line:
            name = statement.name
    if name is None:
        return []
    return [(result.path, Span.of(item.thing.word_loc)) for item, _ in _all_items(result.spec)
            if isinstance(item.thing, ast.Layer) and item.thing.word == name]


def symbols(result: Analysis) -> list[Symbol]:
    """The document's outline: its network, blocks and tables, and in them the labelled
    groups, joins, side outputs and block calls."""
    if result.spec is None:
        return []
    out: list[Symbol] = []
    network: Symbol | None = None
    top: list[Symbol] = []
    for statement in result.spec.statements:
        if isinstance(statement, ast.Network):
            network = Symbol(statement.name, "network", Span.of(statement.loc),
                             "×".join(map(str, statement.input)))
        elif isinstance(statement, ast.Block):
            out.append(Symbol(statement.name, "block", Span.of(statement.loc),
                              _signature(statement), tuple(_outline(statement.body))))
        elif isinstance(statement, ast.Table):
            out.append(Symbol(statement.name, "table", Span.of(statement.loc),
                              f"{len(statement.rows)} rows"))
        elif isinstance(statement, ast.Item):
            top += _outline((statement,))
    if network is not None:
        out.insert(0, dataclasses.replace(network, children=tuple(top)))
    else:
        out += top
    return out


def _outline(body) -> list[Symbol]:
    out = []
    for item in body:
        thing = item.thing
        span = Span.of(item.loc)
        if isinstance(thing, ast.Side):
            inner = thing.body.body if isinstance(thing.body, ast.Group) else ()
            out.append(Symbol(item.label or "side", "side", span, "side output",
                              tuple(_outline(inner))))
        elif isinstance(thing, (ast.Group, ast.Concat, ast.Add)):
            name = item.label or getattr(thing, "name", None)
            children = _outline(thing.body)
            kind = "group" if isinstance(thing, ast.Group) else \
                ("concat" if isinstance(thing, ast.Concat) else thing.op)
            if name or children:
                out.append(Symbol(name or kind, "group", span, kind, tuple(children)))
        elif isinstance(thing, ast.Layer) and (item.label or thing.args or thing.keywords
                                                or vocabulary.match(thing.word) is None):
            out.append(Symbol(item.label or thing.word, "layer", span,
                              thing.word + (f" ×{item.repeat}" if item.repeat else "")))
    return out


# -- completion ------------------------------------------------------------------------------------

_STATEMENTS = ("network", "use", "default", "activation", "init", "block", "table", "expect",
               "train", "schedule", "augment", "evaluate", "concat", "add", "mul", "side")
_EXAMPLES = ("conv3-64", "conv1-64", "conv5-256 groups=2", "conv11-96/4 pad=0", "maxpool",
             "maxpool3/2", "avgpool5/3", "gap", "adaptive-avgpool7", "FC-4096", "FC-1000",
             "LRN", "dropout", "bn", "relu", "tanh", "sigmoid", "scaled-tanh", "soft-max",
             "identity", "subsample2", "stochastic-depth(0.2)",
             "channels(0, 58)", "shuffle(2)")


def completion(result: Analysis, line: int, column: int) -> list[tuple[str, str, str]]:
    """(label, kind, detail) for what may be written at a place: the options of the layer
    or recipe line being written, else layer words, blocks, tables and statements."""
    lines = result.text.split("\n")
    text = lines[line - 1][:column - 1] if 0 < line <= len(lines) else ""
    statement = re.split(r"[;{}]", text)[-1]
    words = statement.split()
    if words and words[0] in recipe.words():
        kinds, options, example = recipe.words()[words[0]]
        if len(words) == 1 and kinds and not statement.endswith(" "):
            return [(words[0], "keyword", example)]
        if (len(words) == 1 or (len(words) == 2 and not statement.endswith(" "))) and kinds:
            return [(kind, "keyword", f"{words[0]} {kind}") for kind in kinds]
        return [(f"{o}=", "property", f"{words[0]} option") for o in options]
    if words and "=" in words[-1] and not statement.endswith(" "):
        key = words[-1].split("=", 1)[0]
        if key == "table":
            return [(name, "constant", "connection table") for name in _tables(result)]
        if key == "act":
            return [(a, "value", "activation") for a in vocabulary.ACTIVATION_WORDS]
        return []
    layer_word = next((w for w in reversed(words) if vocabulary.match(w.split("/")[0])), None)
    if layer_word is not None and (statement.endswith(" ") or len(words) > 1):
        kind, _ = vocabulary.match(layer_word.split("/")[0])
        return [(f"{o}=", "property", f"{kind.name} option") for o in kind.options]
    out = [(w, "function" if w in _EXAMPLES else "keyword", "layer") for w in _EXAMPLES]
    for name, block in _blocks(result).items():
        out.append((name, "function", _signature(block)))
    out += [(s, "keyword", "statement") for s in _STATEMENTS]
    return out


# -- formatting ---------------------------------------------------------------------------------------


def formatted(result: Analysis) -> str | None:
    """The document as `archc fmt` lays it out, or None if it does not parse (or is)."""
    from .. import fmt

    if result.spec is None:
        return None
    try:
        text = fmt.format_text(result.text, result.path)
    except ArchcError:
        return None
    return None if text == result.text else text


def path_of(uri: str) -> str:
    """A document's path from its URI (``file:///...``); other schemes keep the URI, so
    that `use` paths resolve from the working directory."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return str(Path(unquote(parsed.path)))
    return uri
