"""What several commands share: their common arguments, analysing a spec as a command
does (warnings printed, expect lines checked), and writing a command's text output."""

from __future__ import annotations

import argparse
import math
import sys

from .. import sources
from ..errors import SpecError

EXIT_OK, EXIT_EXPECT, EXIT_INPUT = 0, 1, 2


# -- argument types and groups ------------------------------------------------------------------


def whole(lo: int, hi: int | None = None):
    """An argparse type: a whole number from ``lo`` (to ``hi``), else a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi:,}" if hi is not None else f"of at least {lo}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, not {text!r}")
        return value
    return parse


def number(lo: float, hi: float | None = None):
    """An argparse type: a finite number from ``lo`` (to ``hi``), else a usage error."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not value >= lo \
                or (hi is not None and not value <= hi):
            bound = f"from {lo:g} to {hi:g}" if hi is not None else f"of at least {lo:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}, not {text!r}")
        return value
    return parse


def input_arg(parser: argparse.ArgumentParser, verb: str):
    parser.add_argument("--input", metavar="CxHxW",
                        help=f"{verb} at another input size, e.g. 3x32x32 "
                             "(expect lines are then not checked)")


def spec_args(parser: argparse.ArgumentParser, several: bool = True):
    parser.add_argument("specs" if several else "spec", nargs="+" if several else None,
                        metavar="SPEC", help="a .arch file, the name of a bundled spec "
                                             "such as vgg_e (see `archc specs`), or - to "
                                             "read standard input")


def quiet(parser: argparse.ArgumentParser):
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")


def device_args(parser: argparse.ArgumentParser):
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run (default: the GPU if there is one)")
    parser.add_argument("--workers", type=whole(0, 256), default=2,
                        help="data-loading worker processes (default 2; 0: none)")


def force(parser: argparse.ArgumentParser, what: str):
    parser.add_argument("--force", action="store_true",
                        help=f"overwrite {what} even if archc did not write it")


# -- a spec, analysed as commands do ------------------------------------------------------------


def analyze(spec, quiet: bool, input: str | None = None):
    """The analysed network, its warnings printed and its expect lines checked (an
    overridden input drops them: they describe the spec's own); True if one does not hold."""
    from .. import api

    # A command-line argument names a file or a bundled spec, never spec text (a file's
    # name may hold a newline, which api.analyze would take for text).
    net = api.analyze(sources.load(spec), input=input)
    warn(net, quiet)
    return net, report_expects(net, quiet)


def warn(net, quiet: bool):
    if not quiet:
        for warning in net.warnings:
            print(warning.render(), file=sys.stderr)


def report_expects(net, quiet: bool) -> bool:
    """Print failed (and, unless quiet, disputed) expect lines; True if any failed."""
    from .. import verify

    failed = False
    for outcome in verify.check(net):
        if outcome.failed:
            failed = True
            print(SpecError(outcome.message, outcome.expectation.loc).render(), file=sys.stderr)
        elif outcome.expectation.disputed and not quiet:
            print(f"{outcome.expectation.loc}: note: {outcome.message}", file=sys.stderr)
    return failed


# -- output -------------------------------------------------------------------------------------


def emit(args, text: str, default: str, ours):
    """Text a command writes: to standard output for `-o -`, else to the file `-o` names
    (or ``default``, here or in the folder `-o` names), safely; the path, or None."""
    from pathlib import Path

    from .. import output

    if args.output == "-":
        sys.stdout.write(text)
        return None
    path = Path(args.output or default)
    if path.is_dir():
        path = path / default
    output.write(path, text, force=args.force, ours=ours)
    return path
