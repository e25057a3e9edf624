"""`archc specs`: list the bundled specs."""

from __future__ import annotations

import argparse
import re

from .. import sources
from . import common

SUMMARY = "list the bundled specs"


def configure(parser: argparse.ArgumentParser):
    pass


def run(args) -> int:
    import textwrap

    folder = sources.specs_dir()
    for name in sources.bundled():
        title = description((folder / f"{name}.arch").read_text(encoding="utf-8"))
        print(textwrap.fill(title, 88, initial_indent=f"{name:12} ", subsequent_indent=" " * 13)
              if title else name)
    print(f"\n(in {folder})")
    return common.EXIT_OK


def description(text: str) -> str:
    """What a spec is, from its opening comment: the first sentence, up to a dash."""
    first = sources.header(text).split(" — ")[0]
    return re.split(r"(?<=[.:;])\s", first, maxsplit=1)[0].rstrip(".:;")
