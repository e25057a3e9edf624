"""How much archc will read and build, so that no input can make it hang or exhaust memory.

Each limit is a refusal with a clear error at the place in the spec that crosses it, never
a crash or a wait: with these bounds, analysing any spec under ``MAX_BYTES`` takes about a
second at most (``benchmarks/bench_limits.py`` measures the worst cases).  They sit far
above any network of the classic papers — GoogLeNet is 484 tokens with its Inception
block, 158 layers and 50 scopes — and tests/test_limits.py checks every one of them.
"""

from __future__ import annotations

MAX_BYTES = 1 << 20
"""A spec file (or spec text) holds at most 1 MiB."""

MAX_TOKENS = 10_000
"""Words, numbers, symbols and line ends (comments are free) in a spec and the files it
uses together: parsing costs about 60 µs a token."""

MAX_NESTING = 50
"""`{ }` inside `{ }`, counting through block calls: how deep a network's scopes go."""

MAX_LAYERS = 5_000
"""Layers (implicit activations included) and scopes (groups, branches, block calls) once
blocks are instantiated and ×N unrolled: GoogLeNet is 158 layers and 50 scopes."""

MAX_REPEAT = 1_000
"""The N of one `×N`."""

MAX_SIZE = 1 << 24
"""Any one size: channels, features, kernel, stride, padding, groups, an input axis."""

MAX_DIGITS = 30
"""Digits in a number written in a spec (an `expect` count included)."""

MAX_IMAGE_SIDE = 2048
"""The shorter side an image may be rescaled to (a recipe's `resize=`, `scale=`, `scales=`;
`archc eval --scales`): VGG's largest test scale is 512, EfficientNet-B7's input 600."""

MAX_IMAGE_PIXELS = 1 << 25
"""Pixels of an image archc decodes (33.5 million: a 24-megapixel photograph fits), and of
the image a recipe rescales it to: a file's header says its size before any pixel is
read, so a larger one is refused without the memory its pixels would take."""

MAX_LEARNING_RATE = 1e4
"""The largest learning rate a recipe or `--lr` may give: past it training only diverges,
and float32 parameters overflow (at 3.4·10³⁸) on the first step."""

RECIPE_OVERRIDES = {"lr": (1e-12, MAX_LEARNING_RATE), "batch": (1, 1 << 20),
                    "epochs": (1, 100_000), "momentum": (0.0, 0.999999),
                    "weight_decay": (0.0, 1.0)}
"""The range of each part of a recipe `archc train` may override (--lr, --batch, ...): what
the command line takes, and what a checkpoint's recorded overrides must lie in to be
resumed.  batch and epochs are whole numbers."""

RENDER_SECONDS = 30
"""How long Graphviz's `dot` may take to draw a picture (`archc graph` to .svg, .png or
.pdf) before archc stops it and says so: the largest networks within the limits above can
take dot minutes to lay out."""
