"""The layer words of the archc language and the options each one takes.

A word is matched whole (`conv3-64`, `maxpool3`, `FC-4096`, `soft-max`); its named
groups carry what the word itself says (kernel, channels, features).  Everything else
comes from options, whose types are checked here so every stage after elaboration can
trust them.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from . import ast, limits
from .errors import SemanticError

ACTIVATION_WORDS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid",
                    "scaled-tanh": "scaled_tanh", "relu6": "relu6", "hardswish": "hardswish",
                    "hardsigmoid": "hardsigmoid", "silu": "silu", "swish": "silu", "gelu": "gelu",
                    "none": None}


class OptionError(ValueError):
    """A value does not fit the option's type; the message says what was expected."""


def _int(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise OptionError("a whole number")
    return size(text)


def size(text: str) -> int:
    """A count written in a spec (digits only), within :data:`archc.limits.MAX_SIZE`."""
    if len(text.lstrip("0")) > len(str(limits.MAX_SIZE)) or int(text) > limits.MAX_SIZE:
        raise OptionError(f"at most {limits.MAX_SIZE:,} (archc's limit on any one size)")
    return int(text)


def positive(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise OptionError("a whole number of at least 1")
    return value


def nonnegative(text: str) -> int:
    return _int(text)


_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _decimal(text: str) -> float | None:
    """A decimal literal as written in a spec (not `inf` or `nan`, which Python's float
    also reads), or None; too large for a float is None too."""
    if not _DECIMAL.fullmatch(text) or len(text) > 4 * limits.MAX_DIGITS:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def number(text: str) -> float:
    value = _decimal(text)
    if value is None:
        raise OptionError("a number such as 0.01 or 1e-4")
    return value


def probability(text: str) -> float:
    value = _decimal(text[:-1] if text.endswith("%") else text)
    if value is None:
        raise OptionError("a probability such as 0.5 or 40%")
    if text.endswith("%"):
        value /= 100
    if not 0 <= value < 1:
        raise OptionError("a probability in [0, 1), such as 0.5 or 40%")
    return value


def boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise OptionError("true or false")


def padding(text: str) -> int | tuple[int, int] | str:
    """`same`, `valid`, N (on every side), or (H, W): N rows above and below, W columns
    left and right (Caffe's pad_h and pad_w)."""
    if text in ("same", "valid"):
        return text
    pair = re.fullmatch(r"\(\s*([0-9]+)\s*,\s*([0-9]+)\s*\)", text)
    if pair:
        return size(pair.group(1)), size(pair.group(2))
    if not re.fullmatch(r"[0-9]+", text):
        raise OptionError("a whole number, (height, width), `same` or `valid`")
    return size(text)


def activation(text: str) -> str | None:
    if text not in ACTIVATION_WORDS:
        raise OptionError("one of " + ", ".join(f"`{a}`" for a in ACTIVATION_WORDS))
    return ACTIVATION_WORDS[text]


def name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]\w*", text):
        raise OptionError("a name")
    return text


def choice(*options: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in options:
            raise OptionError("one of " + ", ".join(f"`{o}`" for o in options))
        return text
    check.__name__ = "choice"
    return check


@dataclass(frozen=True)
class Kind:
    """One kind of layer word."""

    name: str
    pattern: str  # matched against the whole word, case-insensitively
    example: str  # how the word is usually written, for hints
    options: dict[str, Callable[[str], object]] = field(default_factory=dict)
    positional: tuple[str, ...] = ()  # option names that `word(a, b)` fills in order
    weighted: bool = False  # followed by the network's activation when hidden

    def match(self, word: str) -> re.Match | None:
        return _compiled(self.pattern).fullmatch(word)


_KERNEL = r"(?P<kernel>[0-9]+(?:x[0-9]+)?)"
_INIT = {"std": number, "bias_init": number}

KINDS: tuple[Kind, ...] = (
    Kind("conv", rf"conv{_KERNEL}?-(?P<channels>\w+)", "conv3-64",
         {"kernel": positive, "stride": positive, "pad": padding, "groups": positive,
          "bias": boolean, "act": activation, "bn": boolean, "table": name, **_INIT},
         weighted=True),
    Kind("maxpool", rf"maxpool{_KERNEL}?", "maxpool",
         {"stride": positive, "pad": nonnegative, "ceil": boolean}),
    Kind("avgpool", rf"avgpool{_KERNEL}?", "avgpool",
         {"stride": positive, "pad": nonnegative, "ceil": boolean}),
    Kind("gap", r"gap|global-avgpool", "gap"),
    Kind("adaptive_avgpool", r"adaptive-avgpool(?P<size>[0-9]+(?:x[0-9]+)?)", "adaptive-avgpool7"),
    Kind("subsample", rf"subsample{_KERNEL}?", "subsample2",
         {"stride": positive, "act": activation, **_INIT}, weighted=True),
    Kind("fc", r"(?:fc|linear)-(?P<features>\w+)", "FC-4096",
         {"act": activation, "bias": boolean, "bn": boolean, "in": positive, **_INIT},
         weighted=True),
    Kind("lrn", r"lrn", "LRN",
         {"size": positive, "alpha": number, "beta": number, "k": number,
          "convention": choice("paper", "caffe", "pytorch")},
         positional=("size", "alpha", "beta", "k")),
    Kind("softmax", r"soft-?max", "soft-max"),
    Kind("dropout", r"dropout", "dropout", {"p": probability}, positional=("p",)),
    Kind("channels", r"channels", "channels(0, 58)", {"start": nonnegative, "stop": positive},
         positional=("start", "stop")),
    Kind("shuffle", r"channel-shuffle|shuffle", "shuffle(2)", {"groups": positive},
         positional=("groups",)),
    Kind("stochastic_depth", r"stochastic-depth|drop-path", "stochastic-depth",
         {"p": probability}, positional=("p",)),
    Kind("bn", r"bn|batchnorm", "bn", {"eps": number, "momentum": number},
         positional=("eps",)),
    Kind("activation", r"relu6|relu|tanh|sigmoid|scaled-tanh|hardswish|hardsigmoid|silu|swish|gelu",
         "relu"),
    Kind("identity", r"identity", "identity"),
)

BY_NAME = {kind.name: kind for kind in KINDS}


def layer_pattern() -> str:
    """One regular expression for every layer word (case-insensitive, without named
    groups): what highlighters colour as a layer (archc.highlight, the editor grammar)."""
    return "|".join(f"(?:{re.sub(r'[(][?]P<[a-z_]+>', '(?:', kind.pattern)})" for kind in KINDS)

# Words people write for a layer, with the letters before the first digit or hyphen:
# what "did you mean" compares an unknown word's head against.
_HEADS = ("conv", "maxpool", "avgpool", "gap", "global-avgpool", "adaptive-avgpool",
          "subsample", "FC", "fc", "linear", "LRN", "soft-max", "softmax", "dropout", "bn",
          "batchnorm", "relu", "tanh", "sigmoid", "scaled-tanh", "relu6", "hardswish",
          "hardsigmoid", "silu", "gelu", "identity")


@functools.lru_cache(maxsize=1024)
def match(word: str) -> tuple[Kind, Mapping[str, str]] | None:
    """The kind a layer word names and what the word itself says, or None."""
    for kind in KINDS:
        found = kind.match(word)
        if found:
            return kind, MappingProxyType({k: v for k, v in found.groupdict().items()
                                           if v is not None})
    return None


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, flags=re.IGNORECASE)


def suggest(word: str, names: list[str] | tuple[str, ...] = ()) -> str | None:
    """The most likely intended spelling of an unknown word (a layer word or one of ``names``)."""
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.75)
    if close:
        return close[0]
    head_match = re.match(r"[A-Za-z_]+(?:-[A-Za-z_]+)*", word)
    if head_match is None:
        return None
    head, rest = head_match.group(0), word[head_match.end():]
    candidates = difflib.get_close_matches(head, _HEADS, n=3, cutoff=0.6)
    candidates += difflib.get_close_matches(head.lower(), _HEADS, n=3, cutoff=0.6)
    for candidate in candidates:
        for spelled in (candidate + rest, candidate + "-" + rest.lstrip("-_")):
            if match(spelled):
                return spelled
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest_option(key: str, kind: Kind) -> str | None:
    close = difflib.get_close_matches(key, list(kind.options), n=1, cutoff=0.6)
    return close[0] if close else None


def typed(check: Callable[[str], object], opt: ast.Option):
    """An option's value, typed by ``check``; a bare flag (`ceil`) means `true`.  A value
    that does not fit is a SemanticError at its place."""
    if opt.value is None:
        try:
            return check("true")
        except OptionError as exc:
            raise SemanticError(f"`{opt.key}` needs a value: {exc}", opt.loc,
                                hint=f"e.g. `{opt.key}=...`") from None
    try:
        return check(opt.value.text)
    except OptionError as exc:
        raise SemanticError(f"`{opt.key}` must be {exc}, not `{opt.value.text}`",
                            opt.value.loc) from None
