"""`archc stats`: per-layer shapes, parameters, MACs and receptive fields, and totals."""

from __future__ import annotations

import argparse
import sys

from . import common

SUMMARY = "per-layer shapes, parameters, MACs and receptive fields, and totals"


def configure(parser: argparse.ArgumentParser):
    from ..stats import FORMATS

    common.spec_args(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, default="table",
                        help="output format (default: table)")
    common.input_arg(parser, "analyse")
    parser.add_argument("--all", action="store_true",
                        help="also list the activations archc adds after conv and FC layers")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw params and MACs per layer (or per network) to FILE "
                             "(.png, .svg or .pdf)")
    common.force(parser, "the --plot FILE")
    parser.add_argument("--no-table", action="store_true",
                        help="print no table (with --plot: only draw the chart)")
    memory = parser.add_argument_group(
        "memory", "what the network needs to run and to train (any of these shows it)")
    memory.add_argument("--memory", action="store_true", help="at the defaults below")
    memory.add_argument("--batch", type=common.whole(1, 1 << 20),
                        help="images per batch (default 1)")
    memory.add_argument("--dtype", choices=("fp32", "bf16", "fp16"),
                        help="of parameters and activations (default fp32)")
    memory.add_argument("--optimizer", choices=("sgd", "momentum", "adam"),
                        help="whose state training keeps (default momentum: SGD with momentum)")
    memory.add_argument("--device", choices=("cuda", "cpu"),
                        help="where it runs: dropout's mask is a byte per element on a GPU, "
                             "an activation's size on the CPU (default cuda)")
    common.quiet(parser)


def run(args) -> int:
    from .. import stats

    results = [common.analyze(spec, args.quiet, args.input) for spec in args.specs]
    nets = [net for net, _ in results]
    failed = any(bad for _, bad in results)
    if args.plot:
        from .. import plot

        plot.check(args.plot, args.force)  # before the table, not after it
    settings = None
    if args.memory or any(v is not None for v in (args.batch, args.dtype, args.optimizer,
                                                   args.device)):
        defaults = stats.Memory()
        settings = stats.Memory(args.batch or defaults.batch, args.dtype or defaults.dtype,
                                args.optimizer or defaults.optimizer,
                                args.device or defaults.device)
    if not args.no_table:
        sys.stdout.write(stats.render(nets, args.format, args.all, settings))
    if args.plot:
        written = plot.plot(nets, args.plot, force=args.force)
        print(f"wrote {written}", file=sys.stderr)
    return common.EXIT_EXPECT if failed else common.EXIT_OK
