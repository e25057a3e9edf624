"""`archc check`: parse and analyse specs and verify their expect lines."""

from __future__ import annotations

import argparse
import sys

from ..errors import ArchcError
from . import common

SUMMARY = "parse and analyse specs and verify their expect lines"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser)
    common.quiet(parser)


def run(args) -> int:
    from .. import verify

    status = common.EXIT_OK
    for spec in args.specs:
        try:
            net, failed = common.analyze(spec, args.quiet)
        except ArchcError as exc:
            print(exc.render(), file=sys.stderr)
            status = common.EXIT_INPUT
            continue
        outcomes = verify.check(net)
        held = sum(o.holds for o in outcomes)
        verdict = "FAILED" if failed else "ok"
        print(f"{verdict:6} {net.source.path}: {net.name}, {held} of {len(outcomes)} "
              f"expect lines hold")
        if failed and status == common.EXIT_OK:
            status = common.EXIT_EXPECT
    return status
