"""`archc graph`: draw the network as the papers do, or as a page that answers by pointing."""

from __future__ import annotations

import argparse

from ..errors import ArchcError
from . import common

SUMMARY = "draw the network as the papers do (SVG, PNG, PDF, DOT, or an interactive HTML page)"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="FILE.svg, .png, .pdf, .dot or .html (default: NAME.svg here); "
                             "several specs are drawn side by side on one .html page")
    parser.add_argument("--detail", action="store_true",
                        help="show parameters, MACs and the receptive field in each box")
    parser.add_argument("--collapse", action="store_true",
                        help="draw layers written with ×N once, marked ×N (on a page: start "
                             "with every group folded)")
    parser.add_argument("--dpi", type=common.whole(1, 1200), default=144,
                        help="resolution of a .png, 1 to 1200 (default 144)")
    common.input_arg(parser, "draw the network")
    page = parser.add_argument_group("page", "what a .html page counts the memory saved for "
                                             "training at")
    page.add_argument("--batch", type=common.whole(1, 1 << 20), default=1,
                      help="images per batch (default 1)")
    page.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32",
                      help="of parameters and activations (default fp32)")
    common.force(parser, "FILE")
    common.quiet(parser)


def run(args) -> int:
    from pathlib import Path

    from .. import output, render, stats

    results = [common.analyze(spec, args.quiet, args.input) for spec in args.specs]
    nets = [net for net, _ in results]
    failed = any(bad for _, bad in results)
    path = Path(args.output or f"{nets[0].name}.svg")
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in (*render.FORMATS, "html"):
        raise ArchcError(f"cannot draw to `{path}`",
                         hint="use a .svg, .png, .pdf, .dot or .html file")
    if fmt == "html":
        from .. import view

        output.check(path, force=args.force, ours=output.picture)
        data = view.html(nets, stats.Memory(args.batch, args.dtype), collapse=args.collapse,
                         detail=args.detail)
    elif len(nets) > 1:
        raise ArchcError(f"{len(nets)} specs cannot be drawn into one .{fmt} picture",
                         hint="draw them side by side on a page, `-o FILE.html`, or one "
                              "picture per spec")
    else:
        source = render.dot(nets[0], detail=args.detail, collapse=args.collapse)
        data = source if fmt in ("dot", "gv") else render.render(source, fmt, dpi=args.dpi)
    output.write(path, data, force=args.force, ours=output.picture)
    print(f"wrote {path}")
    return common.EXIT_EXPECT if failed else common.EXIT_OK
