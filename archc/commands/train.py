"""`archc train`: train the network with its spec's recipe."""

from __future__ import annotations

import argparse
import os
import sys

from .. import limits
from ..errors import ArchcError
from . import common

SUMMARY = "train the network with its spec's recipe (one CPU, one GPU, or torchrun)"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("--data", required=True, metavar="DATA",
                        help="an ImageFolder tree (DATA/train/CLASS/*, DATA/val/CLASS/*) or "
                             "`digits` (scikit-learn's handwritten digits)")
    parser.add_argument("-o", "--output", metavar="RUN_DIR",
                        help="the run's folder (default: runs/NAME); it must be new or empty")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR after its last finished epoch")
    recipe = parser.add_argument_group("recipe overrides", "recorded in the run")
    bounds = limits.RECIPE_OVERRIDES
    recipe.add_argument("--lr", type=common.number(*bounds["lr"]), help="learning rate")
    recipe.add_argument("--batch", type=common.whole(*bounds["batch"]), help="the global batch")
    recipe.add_argument("--epochs", type=common.whole(*bounds["epochs"]), help="epochs")
    recipe.add_argument("--momentum", type=common.number(*bounds["momentum"]),
                        help="SGD's momentum")
    recipe.add_argument("--weight-decay", type=common.number(*bounds["weight_decay"]),
                        help="weight decay")
    parser.add_argument("--seed", type=common.whole(0, 2 ** 31), default=0,
                        help="for the initial weights, the data order and augmentation")
    common.device_args(parser)
    parser.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 autocast)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--backend", choices=("torch", "triton", "auto"), default="torch",
                        help="the generated module's backend (default torch)")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start from the layers of a trained checkpoint whose names and "
                             "shapes match (VGG §3.1: D and E from A)")
    parser.add_argument("--plot", metavar="FILE", help="draw the learning curves to FILE "
                                                       "(.png, .svg or .pdf) at the end")
    parser.add_argument("--log-every", type=common.whole(1), default=20, metavar="STEPS",
                        help="a metrics line every STEPS steps (default 20)")
    parser.add_argument("--max-steps", type=common.whole(1), metavar="STEPS",
                        help="stop after STEPS steps in all (a quick try)")
    common.quiet(parser)


def run(args) -> int:
    from pathlib import Path

    from ..extras import need

    need("torchvision", "train", "`archc train`")
    from ..train import Options, train

    if args.resume and args.output:
        raise ArchcError("--resume continues a run in its own folder: give no -o")
    if args.plot:  # before the run, not after hours of it
        from .. import plot

        plot.check(args.plot, forceable=False)
        need("matplotlib.figure", "graph", "--plot")
    net, failed = common.analyze(args.spec, args.quiet)
    options = Options(
        data=args.data, out=Path(args.output) if args.output else None,
        resume=Path(args.resume) if args.resume else None, lr=args.lr, batch=args.batch,
        epochs=args.epochs, momentum=args.momentum, weight_decay=args.weight_decay,
        workers=args.workers, seed=args.seed, device=args.device, amp=args.amp,
        compile=args.compile, backend=args.backend,
        init_from=Path(args.init_from) if args.init_from else None,
        plot=Path(args.plot) if args.plot else None, log_every=args.log_every,
        max_steps=args.max_steps, quiet=args.quiet, command=tuple(sys.argv))
    folder = train(net, options)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
        print(f"wrote {folder}", file=sys.stderr)
    return common.EXIT_EXPECT if failed else common.EXIT_OK
