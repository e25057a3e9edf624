"""`archc view`: the interactive page for one spec, served on 127.0.0.1 and redrawn as
the spec (or a file it uses) changes."""

from __future__ import annotations

import argparse

from . import common

SUMMARY = "serve the interactive page of a spec on 127.0.0.1, redrawn as you edit it"


def configure(parser: argparse.ArgumentParser):
    parser.add_argument("spec", metavar="SPEC",
                        help="a .arch file, or the name of a bundled spec such as vgg_e")
    parser.add_argument("--port", type=common.whole(0, 65535), default=8000,
                        help="the port on 127.0.0.1 to serve on (default 8000; 0: any free one)")
    parser.add_argument("--no-open", action="store_true",
                        help="do not open the page in a browser")
    parser.add_argument("--collapse", action="store_true",
                        help="start with every group folded")
    common.input_arg(parser, "draw the network")
    parser.add_argument("--batch", type=common.whole(1, 1 << 20), default=1,
                        help="images per batch the saved memory is counted at (default 1)")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32",
                        help="of parameters and activations (default fp32)")


def run(args) -> int:
    import sys

    from .. import stats, sources
    from ..errors import UsageError
    from ..view import server

    if args.spec == "-":
        raise UsageError("`archc view` follows a file as it changes, not standard input",
                         hint="save the spec to a file and name it")
    sources.resolve(args.spec)  # a missing spec is an error now, not a page
    if args.input is not None:
        from .. import api

        api.parse_input(args.input)
    watcher = server.Watcher(args.spec, stats.Memory(args.batch, args.dtype),
                             collapse=args.collapse, input=args.input)
    return server.serve(watcher, args.port, not args.no_open, sys.stdout)
