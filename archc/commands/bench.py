"""`archc bench`: time the network, on a GPU against eager PyTorch and torch.compile."""

from __future__ import annotations

import argparse

from . import common

SUMMARY = "time the network on a GPU: fused Triton kernels against PyTorch"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("--batch", type=common.whole(1),
                        help="images per batch (default: 128 on a GPU, 2 on the CPU)")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"),
                        help="default: bf16 on a GPU, fp32 on the CPU")
    parser.add_argument("--backward", action="store_true", help="time forward and backward")
    parser.add_argument("--max-autotune", action="store_true",
                        help="add torch.compile(mode='max-autotune') (GPU only; slow to compile)")
    parser.add_argument("--runs", type=common.whole(1), default=100,
                        help="timing budget per backend, in ms (default 100)")
    common.quiet(parser)


def run(args) -> int:
    from .. import analysis, bench, extras

    torch = extras.need("torch", "torch", "`archc bench`")
    cuda = torch.cuda.is_available()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32,
             None: torch.bfloat16 if cuda else torch.float32}[args.dtype]
    batch = args.batch or (128 if cuda else 2)
    _, failed = common.analyze(args.spec, args.quiet)
    device, peak = bench.device_peak()
    net, builders = bench.network_builders(args.spec, batch, dtype, args.max_autotune)
    flops = 2 * analysis.totals(net, inference=True).macs * batch * (3 if args.backward else 1)
    timings = bench.compare(builders, args.backward, args.runs)
    what = "forward + backward" if args.backward else "forward"
    print(bench.table(f"{net.name}: {what}, batch {batch}, {str(dtype)[6:]}, on {device}",
                      timings, flops, peak))
    if not cuda:
        print("\n(no GPU: PyTorch on the CPU only; the Triton kernels and torch.compile are "
              "timed on a GPU" + (", so --max-autotune has nothing to time here)"
                                  if args.max_autotune else ")"))
    return common.EXIT_EXPECT if failed else common.EXIT_OK
