"""Timing networks and layers on a GPU: the fused Triton backend against PyTorch.

Baselines: eager PyTorch with cudnn.benchmark (NCHW and channels_last), torch.compile
(default, and mode="max-autotune" where asked).  Each is timed with CUDA events by
triton.testing.do_bench after a warm-up (torch.compile's compilation happens before
timing), and the median reported.  TFLOP/s count 2 FLOPs per multiply-accumulate of the
convolutions and FC layers (archc's MACs; a backward pass counts as two more forwards).

On a machine without a GPU the same code runs on the CPU in float32, with the PyTorch
backends only and a handful of runs: enough to show it works, not a measurement of the
Triton kernels (which the CPU can only interpret).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0}
"""Dense bfloat16/float16 tensor-core peaks from the datasheets (SXM parts)."""


@dataclass
class Timing:
    name: str
    ms: float | None
    note: str = ""


def device_peak() -> tuple[str, float | None]:
    import torch

    if not torch.cuda.is_available():
        return "cpu", None
    name = torch.cuda.get_device_name()
    for key, peak in PEAK_TFLOPS.items():
        if key in name:
            return name, peak
    return name, None


def median_ms(fn: Callable[[], object], cuda: bool, runs: int = 100) -> float:
    """Median time of one call of ``fn``, in milliseconds, over about ``runs`` ms of
    timing (triton's do_bench on a GPU; on the CPU as many calls as fit, at least 3)."""
    if cuda:
        import triton.testing

        return triton.testing.do_bench(fn, warmup=25, rep=runs, return_mode="median")
    fn()
    times: list[float] = []
    while len(times) < 3 or sum(times) < runs:
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def step(model, x, backward: bool) -> Callable[[], object]:
    """One forward (and backward) pass as a closure."""
    import torch

    if not backward:
        def forward():
            with torch.no_grad():
                return model(x)
        return forward

    def forward_backward():
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()
    return forward_backward


def compare(builders: dict[str, Callable[[], tuple[object, object]]], backward: bool,
            runs: int = 100) -> list[Timing]:
    """Time each ``builders[name]() -> (model, input)``; a failure is reported, not raised."""
    import torch

    cuda = torch.cuda.is_available()
    timings = []
    for name, build in builders.items():
        try:
            model, x = build()
            fn = step(model, x, backward)
            fn()  # compile, autotune, allocate
            if cuda:
                torch.cuda.synchronize()
            timings.append(Timing(name, median_ms(fn, cuda, runs)))
        except Exception as exc:  # a baseline that cannot run here is a result too
            timings.append(Timing(name, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"))
        finally:
            if cuda:
                torch.cuda.empty_cache()
    return timings


def table(title: str, timings: list[Timing], flops: float, peak: float | None,
          ours: str = "archc triton") -> str:
    """Rows of ms and FLOP/s; % of the device's peak where it is known; and how many
    times faster archc's row is than each other, where archc's row was timed."""
    mine = next((t.ms for t in timings if t.name == ours), None)
    rates = [flops / (t.ms * 1e-3) for t in timings if t.ms]
    unit, scale = ("TFLOP/s", 1e12) if rates and max(rates) >= 1e12 else ("GFLOP/s", 1e9)
    head = f"  {'':28} {'ms':>9} {unit:>9}"
    head += f" {'% peak':>7}" if peak else ""
    head += f" {'archc ×':>8}" if mine else ""
    lines = [title, head]
    for t in timings:
        if t.ms is None:
            lines.append(f"  {t.name:28} {'—':>9}   {t.note}")
            continue
        rate = flops / (t.ms * 1e-3)
        row = f"  {t.name:28} {t.ms:9.3f} {rate / scale:9.2f}"
        if peak:
            row += f" {100 * rate / 1e12 / peak:6.1f}%"
        if mine and t.name != ours:
            row += f" {t.ms / mine:7.2f}x"
        lines.append(row.rstrip())
    return "\n".join(lines)


def network_builders(spec, batch: int, dtype, max_autotune: bool = False):
    """Baselines and archc's Triton backend for a whole network (``archc bench``)."""
    import torch

    import archc

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    net = archc.analyze(spec)
    shape = (batch, *net.input.as_list())

    def make(backend="torch", channels_last=False, compile_mode=None):
        def build():
            torch.backends.cudnn.benchmark = True
            model = archc.build(spec, backend=backend, init="torch").to(device, dtype).eval()
            x = torch.randn(shape, device=device, dtype=dtype)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            if compile_mode is not None:
                model = torch.compile(model, mode=compile_mode)
            return model, x
        return build

    builders = {"eager NCHW": make(), "eager channels_last": make(channels_last=True)}
    if cuda:
        builders["torch.compile"] = make(channels_last=True, compile_mode="default")
        if max_autotune:
            builders["torch.compile max-autotune"] = make(channels_last=True,
                                                          compile_mode="max-autotune")
        builders["archc triton"] = make(backend="triton", channels_last=True)
    return net, builders
