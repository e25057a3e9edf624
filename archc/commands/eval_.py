"""`archc eval`: top-1 and top-5 error of trained weights, with the paper's test protocol."""

from __future__ import annotations

import argparse
import sys

from ..errors import ArchcError
from . import common

SUMMARY = "top-1 and top-5 error of trained weights, with the paper's test protocol"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("--weights", required=True, metavar="CHECKPOINT",
                        help="a checkpoint.pt from `archc train`, or torchvision:NAME "
                             "(torchvision's ImageNet weights, e.g. torchvision:vgg16)")
    parser.add_argument("--data", required=True, metavar="DATA",
                        help="an ImageFolder tree (its val/ folder is used) or `digits`")
    parser.add_argument("--protocol", choices=("center", "ten-crop", "multi-crop", "dense"),
                        help="default: the recipe's `evaluate` line, else center")
    parser.add_argument("--scales", metavar="Q,Q,...",
                        help="for multi-crop and dense: the shorter sides, e.g. 256,384,512")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                        help="for multi-crop and dense: average the mirror images' scores in")
    parser.add_argument("--batch", type=common.whole(1, 4096), default=32,
                        help="images per batch (default 32; dense takes one at a time)")
    common.device_args(parser)
    parser.add_argument("--format", "-f", choices=("text", "json"), default="text")
    common.quiet(parser)


def run(args) -> int:
    import json
    import re
    from dataclasses import replace

    from .. import api, ir, limits
    from ..extras import need

    need("torchvision", "train", "`archc eval`")
    from ..train import data, evaluate, weights
    from ..train.run import _device

    net, failed = common.analyze(args.spec, args.quiet)
    recipe = net.recipe or ir.Recipe()
    protocol = recipe.evaluation
    if args.protocol is not None and args.protocol != protocol.protocol:
        protocol = ir.Evaluation(args.protocol)
    if args.scales is not None:
        scales = tuple(int(s) if re.fullmatch(r"[0-9]{1,9}", s.strip()) else 0
                       for s in args.scales.split(","))
        if not 1 <= min(scales) <= max(scales) <= limits.MAX_IMAGE_SIDE:
            raise ArchcError(f"--scales {args.scales[:40]!r}: give shorter sides from 1 to "
                             f"{limits.MAX_IMAGE_SIDE:,}, e.g. 256,384,512",
                             hint="archc's limit on a rescaled image "
                                  "(archc.limits.MAX_IMAGE_SIDE)")
        protocol = replace(protocol, scales=scales)
    if args.flip is not None:
        protocol = replace(protocol, flip=args.flip)
    if protocol.protocol == "dense" and not protocol.scales:
        raise ArchcError("dense evaluation needs --scales (or the recipe's `evaluate dense "
                         "scales=(...)`)")
    crop = (net.input.height, net.input.width)
    if protocol.protocol == "multi-crop":
        protocol = replace(protocol, scales=data.multi_crop_scales(net, protocol))
    if protocol.protocol in ("multi-crop", "dense") and min(protocol.scales) < max(crop):
        how = (f"cuts {crop[0]}×{crop[1]} crops from squares of each scale"
               if protocol.protocol == "multi-crop" else
               f"slides the {crop[0]}×{crop[1]} network over the whole image")
        given = "" if args.scales is None else f"--scales {args.scales}: "
        raise ArchcError(f"{given}{protocol.protocol} {how}, so no scale may be smaller than "
                         f"{max(crop)}")
    found = weights.load(args.weights, net.source.text)
    sets = data.load(args.data, net, recipe, protocol, train=False)
    if sets.left_out() and not args.quiet:
        print(sets.left_out(), file=sys.stderr)
    if sets.name == data.DIGITS and protocol.protocol in ("ten-crop", "multi-crop"):
        if not args.quiet:
            print(f"warning: the digits are already the network's input size, so there are "
                  f"no {protocol.protocol}s to take: each is evaluated whole",
                  file=sys.stderr)
        protocol = ir.Evaluation("center")
    if len(found.classes) != len(sets.classes):
        raise ArchcError(f"{found.source} has {len(found.classes)} classes; {sets.name} has "
                         f"{len(sets.classes)}")
    device = _device(args.device)
    model = api.build(net, num_classes=len(found.classes), init="torch")
    weights.apply(model, found, net.name)
    result = evaluate(model.to(device), sets.test, protocol, device, args.batch, args.workers)
    scaled = protocol.protocol in ("dense", "multi-crop")
    what = protocol.protocol + (f" at {', '.join(map(str, protocol.scales))}" if scaled
                                else "") + (" with flips" if scaled and protocol.flip else "")
    if args.format == "json":
        print(json.dumps({"network": net.name, "weights": found.source, "data": sets.name,
                          "protocol": protocol.protocol, "scales": list(protocol.scales),
                          "flip": protocol.flip, **result.as_dict()}, indent=2))
    else:
        print(f"{net.name} ({found.source}) on {sets.name}, {result.images:,} images, {what}: "
              f"top-1 error {result.top1_error:.2%}, top-5 error {result.top5_error:.2%}")
    return common.EXIT_EXPECT if failed else common.EXIT_OK
