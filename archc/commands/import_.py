"""`archc import`: write the spec for a Caffe network definition."""

from __future__ import annotations

import argparse
import sys

from ..errors import ArchcError
from . import common

SUMMARY = "write the spec for a Caffe network definition (.prototxt)"


def configure(parser: argparse.ArgumentParser):
    parser.add_argument("prototxt", metavar="FILE.prototxt",
                        help="a Caffe network definition (deploy or train_val, either format)")
    parser.add_argument("-o", "--output", metavar="SPEC",
                        help="the spec to write, or - for standard output (default: NAME.arch "
                             "here, NAME being the network's)")
    common.input_arg(parser, "import the network")
    parser.add_argument("--expect", action="store_true",
                        help="add expect lines: Caffe's parameter count and output shape")
    common.force(parser, "SPEC")
    common.quiet(parser)


def run(args) -> int:
    from pathlib import Path

    from .. import output, sources
    from ..caffe import importer

    path = Path(args.prototxt)
    if not path.is_file():
        raise ArchcError(f"no file `{path}`")
    result = importer.import_text(sources.read(path), input=args.input, expect=args.expect)
    target = common.emit(args, result.text, f"{result.network}.arch",
                         output.begins_with(importer.MARK.encode()))
    if target is not None:
        print(f"wrote {target}: network {result.network}", file=sys.stderr)
    return common.EXIT_OK
