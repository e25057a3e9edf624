"""`archc export`: write a spec as a Caffe deploy definition."""

from __future__ import annotations

import argparse
import sys

from . import common

SUMMARY = "write a spec as a Caffe deploy definition (.prototxt)"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("--caffe", action="store_true", required=True,
                        help="a Caffe deploy definition, current format (the one format so far)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="the .prototxt to write, or - (default: NAME.prototxt here)")
    common.input_arg(parser, "export the network")
    common.force(parser, "FILE")
    common.quiet(parser)


def run(args) -> int:
    from .. import output
    from ..caffe import exporter

    net, failed = common.analyze(args.spec, args.quiet, args.input)
    target = common.emit(args, exporter.export(net), f"{net.name}.prototxt",
                         output.begins_with(exporter.MARK.encode()))
    if target is not None:
        print(f"wrote {target}", file=sys.stderr)
    return common.EXIT_EXPECT if failed else common.EXIT_OK
