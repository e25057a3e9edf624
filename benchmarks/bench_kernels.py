"""The fused kernel against PyTorch, layer by layer and for whole networks.

Cases: AlexNet's conv1 and conv2 blocks (conv + ReLU + LRN + overlapping max-pool), VGG's
3×3 conv + ReLU layers (early, middle, late), and whole AlexNet, VGG-E and GoogLeNet.
Baselines: eager PyTorch with cudnn.benchmark (NCHW and channels_last), torch.compile
(default and, with --max-autotune, mode="max-autotune").  Reported: median ms, TFLOP/s,
% of the GPU's bf16 peak, and how many times faster archc is than each.

    python benchmarks/bench_kernels.py                      # everything (long)
    python benchmarks/bench_kernels.py --cases alexnet-conv1 --dtypes bf16 --batches 128

Without a GPU it runs the PyTorch path on the CPU in float32 at batch 2: proof that the
script works, not a measurement of the kernels.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from archc import analysis, bench, kernels  # noqa: E402

LAYERS = {
    # name: (input C, H, W; conv out, kernel, stride, padding, groups; LRN; pool)
    "alexnet-conv1": ((3, 227, 227), (96, 11, 4, 0, 1), (5, 5e-4, 0.75, 2.0), ((3, 3), (2, 2), (0, 0), False)),
    "alexnet-conv2": ((96, 27, 27), (256, 5, 1, 2, 2), (5, 5e-4, 0.75, 2.0), ((3, 3), (2, 2), (0, 0), False)),
    "vgg-early": ((64, 224, 224), (64, 3, 1, 1, 1), None, None),
    "vgg-middle": ((256, 56, 56), (256, 3, 1, 1, 1), None, None),
    "vgg-late": ((512, 14, 14), (512, 3, 1, 1, 1), None, None),
}
NETWORKS = {"alexnet": "alexnet", "vgg_e": "vgg_e", "googlenet": "googlenet"}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def layer_builders(name: str, batch: int, dtype, max_autotune: bool):
    (c, h, w), (c_out, k, s, p, g), lrn, pool = LAYERS[name]
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"

    def modules():
        stages = [nn.Conv2d(c, c_out, k, s, p, groups=g), nn.ReLU(inplace=True)]
        if lrn:
            stages.append(nn.LocalResponseNorm(*lrn))
        if pool:
            stages.append(nn.MaxPool2d(*pool[:3], ceil_mode=pool[3]))
        return nn.Sequential(*stages)

    def make(kind: str, channels_last: bool = True, mode: str | None = None):
        def build():
            torch.backends.cudnn.benchmark = True
            torch.manual_seed(0)
            model = modules().to(device, dtype)
            x = torch.randn(batch, c, h, w, device=device, dtype=dtype)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            if kind in ("archc", "archc-pool-in-kernel"):
                model = kernels.FusedConv2d(model[0], kernels.Epilogue("relu", lrn, pool), "triton")
                model.pool_in_kernel = True if kind == "archc-pool-in-kernel" else None
            elif mode is not None:
                model = torch.compile(model, mode=mode)
            return model, x
        return build

    builders = {"eager NCHW": make("eager", channels_last=False),
                "eager channels_last": make("eager")}
    if cuda:
        builders["torch.compile"] = make("eager", mode="default")
        if max_autotune:
            builders["torch.compile max-autotune"] = make("eager", mode="max-autotune")
        builders["archc triton"] = make("archc")
        if pool is not None and kernels.overlaps(pool):
            builders["archc, pool in the kernel"] = make("archc-pool-in-kernel")
    macs = c_out * (c // g) * k * k * ((h + 2 * p - k) // s + 1) * ((w + 2 * p - k) // s + 1) * batch
    return builders, 2 * macs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=[*LAYERS, *NETWORKS],
                        choices=[*LAYERS, *NETWORKS])
    parser.add_argument("--dtypes", nargs="+", default=["bf16", "fp16"], choices=list(DTYPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--modes", nargs="+", default=["forward", "backward"],
                        choices=["forward", "backward"])
    parser.add_argument("--max-autotune", action="store_true")
    parser.add_argument("--runs", type=int, default=100, help="do_bench's rep, in ms")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device, peak = bench.device_peak()
    print(f"device: {device}; torch {torch.__version__}; python {platform.python_version()}"
          + (f"; triton {__import__('triton').__version__}" if cuda else ""))
    if not cuda:
        print("no GPU: the CPU path runs the PyTorch baselines in float32 at batch 2 only")
        args.dtypes, args.batches, args.modes = ["fp32"], [2], ["forward"]
        DTYPES["fp32"] = torch.float32
    for case in args.cases:
        for dtype_name in args.dtypes:
            dtype = DTYPES[dtype_name]
            for batch in args.batches:
                for mode in args.modes:
                    backward = mode == "backward"
                    if case in LAYERS:
                        builders, flops = layer_builders(case, batch, dtype, args.max_autotune)
                    else:
                        net, builders = bench.network_builders(
                            NETWORKS[case],
                            batch, dtype, args.max_autotune)
                        flops = 2 * analysis.totals(net, inference=True).macs * batch
                    flops *= 3 if backward else 1
                    timings = bench.compare(builders, backward, args.runs)
                    what = "forward + backward" if backward else "forward"
                    print(bench.table(f"\n{case}: {what}, batch {batch}, {dtype_name}", timings,
                                      flops, peak), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
