"""The recipe lines of a spec → :class:`archc.ir.Recipe`: how the paper trained and
evaluated its network, written beside the architecture.

    train sgd lr=0.01 momentum=0.9 weight_decay=5e-4 batch=128 epochs=90 update=paper
    schedule plateau factor=0.1 times=3
    augment resize=256 crop=227 flip lighting=0.1 mean=imagenet
    evaluate ten-crop

Each kind of line may appear once; its options are typed and checked here (a bad one is
the usual error at its place, with a hint), which is all `archc stats` and `archc check`
do with them.  `archc train` and `archc eval` (archc/train) carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from . import ast, ir, limits, vocabulary
from .errors import Loc, Note, SemanticError
from .vocabulary import OptionError


def _error(message: str, loc: Loc | None, hint: str | None = None, notes=()) -> SemanticError:
    return SemanticError(message, loc, hint=hint, notes=notes)


# -- option types ------------------------------------------------------------------------------


def _fraction(text: str) -> float:
    value = vocabulary.number(text[:-1] if text.endswith("%") else text)
    return value / 100 if text.endswith("%") else value


def _range(check: Callable[[str], float]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        low, sep, high = text.partition("..")
        if not sep:
            raise OptionError("a range such as 256..512")
        lo, hi = check(low), check(high)
        if lo > hi:
            raise OptionError("a range from the smaller to the larger, such as 256..512")
        return lo, hi
    parse.__name__ = "range"
    return parse


def _list(check: Callable[[str], object]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
        try:
            return tuple(check(part.strip()) for part in inner.split(","))
        except OptionError as exc:
            raise OptionError(f"a list such as (256, 384, 512), each {exc}") from None
    parse.__name__ = "list"
    return parse


def _positive_number(text: str) -> float:
    value = vocabulary.number(text)
    if value <= 0:
        raise OptionError("a number above 0")
    return value


def _learning_rate(text: str) -> float:
    value = _positive_number(text)
    if value > limits.MAX_LEARNING_RATE:
        raise OptionError(f"at most {limits.MAX_LEARNING_RATE:g} (archc.limits.MAX_LEARNING_RATE)")
    return value


def _image_side(text: str) -> int:
    """A shorter side images are rescaled to, within archc.limits.MAX_IMAGE_SIDE."""
    value = vocabulary.positive(text)
    if value > limits.MAX_IMAGE_SIDE:
        raise OptionError(f"at most {limits.MAX_IMAGE_SIDE:,} (archc's limit on a rescaled "
                          f"image, archc.limits.MAX_IMAGE_SIDE)")
    return value


def _unit(text: str) -> float:
    value = vocabulary.number(text)
    if not 0 <= value <= 1:
        raise OptionError("a number from 0 to 1, such as 0.1")
    return value


def _rate(text: str) -> float:
    value = vocabulary.number(text)
    if not 0 <= value < 1:
        raise OptionError("a number from 0 up to 1, such as 0.9")
    return value


def _decay(text: str) -> float:
    value = vocabulary.number(text)
    if not 0 < value < 1:
        raise OptionError("a number between 0 and 1, such as 0.999")
    return value


def _factor(text: str) -> float:
    value = vocabulary.number(text)
    if not 0 < value < 1:
        raise OptionError("a factor between 0 and 1, such as 0.1 or 0.96")
    return value


@dataclass(frozen=True)
class _Line:
    """One kind of recipe line: the kinds its first word may name, and its options."""

    kinds: tuple[str, ...]  # what follows `train`/`schedule`/`evaluate`; () for `augment`
    options: dict[str, Callable[[str], object]]
    example: str


_LINES = {
    "train": _Line(("sgd", "adam"), {
        "lr": _learning_rate, "momentum": _rate, "nesterov": vocabulary.boolean,
        "weight_decay": _unit, "batch": vocabulary.positive,
        "epochs": vocabulary.positive, "update": vocabulary.choice("pytorch", "paper"),
        "average": vocabulary.choice("none", "polyak", "ema"), "decay": _decay},
        "train sgd lr=0.01 momentum=0.9 weight_decay=5e-4 batch=128 epochs=90"),
    "schedule": _Line(("constant", "step", "multistep", "plateau"), {
        "every": vocabulary.positive, "at": _list(vocabulary.positive), "factor": _factor,
        "patience": vocabulary.nonnegative, "times": vocabulary.positive},
        "schedule plateau factor=0.1"),
    "augment": _Line((), {
        "resize": _image_side, "scale": _range(_image_side),
        "area": _range(_fraction), "ratio": _range(_positive_number),
        "crop": vocabulary.positive, "flip": vocabulary.boolean, "lighting": _unit,
        "photometric": _rate, "mean": vocabulary.choice("none", "imagenet", "dataset", "image"),
        "std": vocabulary.choice("none", "imagenet")},
        "augment resize=256 crop=224 flip"),
    "evaluate": _Line(("center", "ten-crop", "multi-crop", "dense"), {
        "resize": _image_side, "scales": _list(_image_side),
        "flip": vocabulary.boolean},
        "evaluate dense scales=(256, 384, 512) flip"),
}

# Which options go with which kind: a schedule's, an optimiser's.
_ONLY = {
    ("train", "adam"): {"momentum", "nesterov", "update"},  # SGD's, not Adam's
    ("schedule", "constant"): {"every", "at", "factor", "patience", "times"},
    ("schedule", "step"): {"at", "patience", "times"},
    ("schedule", "multistep"): {"every", "patience", "times"},
    ("schedule", "plateau"): {"every", "at"},
    ("evaluate", "center"): {"scales"},
    ("evaluate", "ten-crop"): {"scales"},
    ("evaluate", "multi-crop"): {"resize"},
    ("evaluate", "dense"): {"resize"},
}
_NEEDED = {"train": ("lr", "batch", "epochs"), ("schedule", "step"): ("every",),
           ("schedule", "multistep"): ("at",), ("evaluate", "dense"): ("scales",)}
_EXAMPLES = {("schedule", "step"): "schedule step every=8 factor=0.96",
             ("schedule", "multistep"): "schedule multistep at=(30, 60) factor=0.1"}


def words() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]:
    """Each recipe line (`train`, `schedule`, `augment`, `evaluate`): the kinds its first
    word may name, its options and an example — what an editor offers to complete."""
    return {line: (spec.kinds, tuple(spec.options), spec.example) for line, spec in _LINES.items()}


def recipe(lines: list[ast.Recipe], net_input: tuple[int, int, int]) -> ir.Recipe | None:
    """The recipe the lines state, or None if there are none."""
    if not lines:
        return None
    seen: dict[str, ast.Recipe] = {}
    parts: dict[str, tuple[str | None, dict[str, object], dict[str, ast.Option]]] = {}
    for line in lines:
        if line.kind in seen:
            raise _error(f"the recipe has two `{line.kind}` lines", line.loc,
                         notes=[Note("the first", seen[line.kind].loc)])
        seen[line.kind] = line
        parts[line.kind] = _typed(line)
    if "train" not in parts:
        first = lines[0]
        raise _error("a recipe needs a `train` line", first.loc,
                     hint=f"e.g. `{_LINES['train'].example}`")
    optimizer, train, written = parts["train"]
    result = ir.Recipe(optimizer=optimizer, loc=seen["train"].loc, **train)
    if result.update == "paper" and result.momentum == 0:
        raise _error("`update=paper` is a rule for SGD with momentum", written["update"].loc,
                     hint="give momentum=..., or leave update out")
    if "decay" in train and result.average != "ema":
        raise _error("`decay` goes with average=ema", written["decay"].loc)
    if "schedule" in parts:
        kind, options, _ = parts["schedule"]
        result = replace(result, schedule=ir.Schedule(kind=kind, **options))
    if "augment" in parts:
        _, options, written = parts["augment"]
        _check_augment(options, written, net_input)
        options.pop("crop", None)
        result = replace(result, augment=ir.Augment(**options))
    if "evaluate" in parts:
        kind, options, written = parts["evaluate"]
        _check_evaluate(kind, options, written, net_input)
        result = replace(result, evaluation=ir.Evaluation(protocol=kind, **options))
    return result


def _typed(line: ast.Recipe) -> tuple[str | None, dict[str, object], dict[str, ast.Option]]:
    """A line's kind (its first bare word), its typed options, and the options as written."""
    spec = _LINES[line.kind]
    options = list(line.options)
    kind = None
    if spec.kinds:
        first = options[0] if options else None
        if first is None or first.value is not None:
            raise _error(f"`{line.kind}` needs to say which: " + ", ".join(spec.kinds), line.loc,
                         hint=f"e.g. `{spec.example}`")
        kind = first.key
        if kind not in spec.kinds:
            guess = vocabulary.suggest(kind, list(spec.kinds))
            raise _error(f"unknown {line.kind} `{kind}`", first.loc,
                         hint=f"did you mean `{guess}`?" if guess else
                         "one of " + ", ".join(f"`{k}`" for k in spec.kinds))
        options = options[1:]
    typed: dict[str, object] = {}
    written: dict[str, ast.Option] = {}
    refused = _ONLY.get((line.kind, kind), set())
    for opt in options:
        key = opt.key.replace("-", "_")
        if key not in spec.options or key in refused:
            where = f"`{line.kind} {kind}`" if kind else f"`{line.kind}`"
            guess = vocabulary.suggest(key, [k for k in spec.options if k not in refused])
            hint = (f"did you mean `{guess}`?" if guess else
                    "options: " + ", ".join(k for k in spec.options if k not in refused))
            raise _error(f"{where} has no option `{opt.key}`", opt.loc, hint=hint)
        if key in typed:
            raise _error(f"option `{opt.key}` is given twice", opt.loc)
        typed[key] = vocabulary.typed(spec.options[key], opt)
        written[key] = opt
    for needed in _NEEDED.get(line.kind, ()) + _NEEDED.get((line.kind, kind), ()):
        if needed not in typed:
            example = _EXAMPLES.get((line.kind, kind), spec.example)
            raise _error(f"`{line.kind}{' ' + kind if kind else ''}` needs {needed}=...",
                         line.loc, hint=f"e.g. `{example}`")
    return kind, typed, written


def _check_augment(options: dict, written: dict, net_input: tuple[int, int, int]) -> None:
    sizes = [k for k in ("resize", "scale", "area") if k in options]
    if len(sizes) > 1:
        raise _error(f"`{sizes[0]}` and `{sizes[1]}` both say how to rescale the image",
                     written[sizes[1]].loc, hint="resize=N fixes the shorter side; scale=A..B "
                                                 "draws it; area=a..b crops a share of the image")
    if "ratio" in options and "area" not in options:
        raise _error("`ratio` goes with area=...", written["ratio"].loc)
    if "area" in options and not 0 < options["area"][0] <= options["area"][1] <= 1:
        raise _error("`area` is a share of the image, from above 0 up to 1 (or 100%)",
                     written["area"].value.loc)
    if options.get("mean") == "image":
        if "resize" not in options:
            raise _error("`mean=image` takes out a mean image of resize×resize pixels",
                         written["mean"].value.loc,
                         hint="give resize=N (AlexNet: resize=256), or take out the mean "
                              "pixel: mean=dataset")
        side = options["resize"]
        if side < max(net_input[1:]):
            raise _error(f"with mean=image, images are made {side}×{side}: smaller than the "
                         f"network's input, {net_input[1]}×{net_input[2]}",
                         written["resize"].value.loc,
                         hint=f"give resize={max(net_input[1:])} or more")
    crop = options.get("crop")
    if crop is not None and (crop, crop) != tuple(net_input[1:]):
        raise _error(f"crop={crop} is not the network's input, "
                     f"{net_input[1]}×{net_input[2]}", written["crop"].value.loc,
                     hint="crops are the size the network takes: leave crop out, or change "
                          "the `network` line")
    for key in ("resize", "scale"):
        if key in options:
            _shorter_side(key, options[key] if key == "resize" else options[key][0],
                          written, net_input)


def _shorter_side(key: str, side: int, written: dict, net_input: tuple[int, int, int]) -> None:
    """Refuse a rescaling (``key``) that leaves the shorter side below the network's input."""
    if side < min(net_input[1:]):
        raise _error(f"{key} rescales the shorter side to {side}, less than the network's "
                     f"input, {net_input[1]}×{net_input[2]}", written[key].value.loc)


def _check_evaluate(kind: str, options: dict, written: dict,
                    net_input: tuple[int, int, int]) -> None:
    """Test images are cropped to the network's input: no rescaling may make them smaller."""
    largest = max(net_input[1:])
    if kind == "multi-crop" and "scales" in options and min(options["scales"]) < largest:
        raise _error(f"a scale of {min(options['scales'])} is smaller than the crops, "
                     f"{net_input[1]}×{net_input[2]}", written["scales"].value.loc,
                     hint="multi-crop takes squares of the shorter side, then crops the "
                          "network's input from each")
    if kind == "dense" and min(options["scales"]) < largest:
        raise _error(f"a scale of {min(options['scales'])} is smaller than the network's "
                     f"input, {net_input[1]}×{net_input[2]}", written["scales"].value.loc,
                     hint="dense evaluation slides the network over the whole image, which "
                          "must be at least its input")
    if "resize" in options:
        _shorter_side("resize", options["resize"], written, net_input)
