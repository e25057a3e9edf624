"""`archc fmt`: lay specs out one way (archc/fmt.py), in place, or check or show it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ArchcError, UsageError
from . import common

SUMMARY = "lay specs out the one way archc writes them (in place; --check, --diff)"


def configure(parser: argparse.ArgumentParser):
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="spec files, folders (every .arch file under them), or - "
                             "(standard input, written to standard output)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 if a file is not laid out so")
    what.add_argument("--diff", action="store_true",
                      help="change nothing; print what would change, as a unified diff")
    common.quiet(parser)


def run(args) -> int:
    import difflib

    from .. import fmt, output, sources

    status = common.EXIT_OK
    for path in _files(args.files):
        try:
            source = sources.load(path) if path == sources.STDIN else \
                sources.read(Path(path), regular=True)
            formatted = fmt.format_text(source.text, source.path)
        except ArchcError as exc:
            print(exc.render(), file=sys.stderr)
            status = common.EXIT_INPUT
            continue
        if path == sources.STDIN and not (args.check or args.diff):
            sys.stdout.write(formatted)
            continue
        if formatted == source.text:
            continue
        if args.check:
            if not args.quiet:
                print(f"would reformat {source.path}", file=sys.stderr)
            status = max(status, common.EXIT_EXPECT)
        elif args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                source.text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                f"{source.path}", f"{source.path} (formatted)"))
        else:
            try:
                output.write(Path(path), formatted, ours=lambda p: True, forceable=False)
            except ArchcError as exc:
                print(exc.render(), file=sys.stderr)
                status = common.EXIT_INPUT
                continue
            if not args.quiet:
                print(f"reformatted {source.path}", file=sys.stderr)
    return status


def _files(names: list[str]) -> list[str]:
    """The files ``names`` stand for: a folder stands for every .arch file under it."""
    from .. import sources

    files: list[str] = []
    for name in names:
        path = Path(name)
        if name != sources.STDIN and path.is_dir():
            found = sorted(str(p) for p in path.rglob("*.arch") if p.is_file())
            if not found:
                raise UsageError(f"`{name}` holds no .arch files")
            files += found
        else:
            files.append(name)
    if files.count(sources.STDIN) > 1:
        raise UsageError("standard input (-) can be read only once")
    return files
