"""`archc graph`: draw the network as the papers do."""

from __future__ import annotations

import argparse

from ..errors import ArchcError
from . import common

SUMMARY = "draw the network as the papers do (SVG, PNG, PDF or DOT)"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="FILE.svg, .png, .pdf or .dot (default: NAME.svg here)")
    parser.add_argument("--detail", action="store_true",
                        help="show parameters, MACs and the receptive field in each box")
    parser.add_argument("--collapse", action="store_true",
                        help="draw layers written with ×N once, marked ×N")
    parser.add_argument("--dpi", type=common.whole(1, 1200), default=144,
                        help="resolution of a .png, 1 to 1200 (default 144)")
    common.input_arg(parser, "draw the network")
    common.force(parser, "FILE")
    common.quiet(parser)


def run(args) -> int:
    from pathlib import Path

    from .. import output, render

    net, failed = common.analyze(args.spec, args.quiet, args.input)
    path = Path(args.output or f"{net.name}.svg")
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in render.FORMATS:
        raise ArchcError(f"cannot draw to `{path}`", hint="use a .svg, .png, .pdf or .dot file")
    source = render.dot(net, detail=args.detail, collapse=args.collapse)
    data = source if fmt in ("dot", "gv") else render.render(source, fmt, dpi=args.dpi)
    output.write(path, data, force=args.force, ours=output.picture)
    print(f"wrote {path}")
    return common.EXIT_EXPECT if failed else common.EXIT_OK
