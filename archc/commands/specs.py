"""`archc specs`: list the bundled specs (a table, or JSON for tools)."""

from __future__ import annotations

import argparse
import re

from .. import sources
from . import common

SUMMARY = "list the bundled specs"

# A spec that describes a torchvision model exactly says so in its opening comments:
# `# torchvision: vgg16` — its weights load strictly and its outputs are the model's.
_TORCHVISION = re.compile(r"#[ \t]*torchvision:[ \t]*([a-z0-9_]+)[ \t]*$")


def configure(parser: argparse.ArgumentParser):
    parser.add_argument("-f", "--format", choices=("table", "json"), default="table",
                        help="a table (the default), or a JSON list of objects with name, "
                             "title, path and torchvision (the torchvision.models name "
                             "whose weights it loads, or null)")


def run(args) -> int:
    import json
    import textwrap

    found = bundled()
    if args.format == "json":
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return common.EXIT_OK
    width = max(len(spec["name"]) for spec in found)
    for spec in found:
        title = spec["title"] + (f" [torchvision: {spec['torchvision']}]"
                                 if spec["torchvision"] else "")
        print(textwrap.fill(title, 88, initial_indent=f"{spec['name']:{width}} ",
                            subsequent_indent=" " * (width + 1)) if title else spec["name"])
    print(f"\n(in {sources.specs_dir()})")
    return common.EXIT_OK


def bundled() -> list[dict]:
    """Every bundled spec: its name, title (the first sentence of its opening comment),
    path, and the torchvision model it describes exactly, or None."""
    folder = sources.specs_dir()
    out = []
    for name in sources.bundled():
        path = folder / f"{name}.arch"
        text = path.read_text(encoding="utf-8")
        out.append({"name": name, "title": description(text), "path": str(path),
                    "torchvision": torchvision_name(text)})
    return out


def torchvision_name(text: str) -> str | None:
    """The `# torchvision: NAME` line among a spec's opening comments, or None."""
    for line in text.split("\n"):
        if not line.startswith("#"):
            return None
        found = _TORCHVISION.fullmatch(line.rstrip())
        if found:
            return found.group(1)
    return None


def description(text: str) -> str:
    """What a spec is, from its opening comment: the first sentence, up to a dash."""
    first = sources.header(text).split(" — ")[0]
    return re.split(r"(?<=[.:;])\s", first, maxsplit=1)[0].rstrip(".:;")
