"""The pipeline, end to end: a spec (a path, a bundled name or its text) → analysed IR →
Python source → an imported module → a model."""

from __future__ import annotations

import builtins
import hashlib
import linecache
import os
import re
import sys
import threading
import types
from dataclasses import replace

from . import analysis, ir, limits, sources
from .elaborate import elaborate
from .errors import Source, UsageError
from .parser import parse


def load_source(spec: "str | os.PathLike | Source") -> Source:
    """The text of a spec given as a path, a bundled name (`vgg_e`), the text itself, or
    a :class:`~archc.errors.Source` (text under a name of the caller's choosing, taken
    as text whatever it holds)."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, os.PathLike):
        return sources.read(sources.resolve(spec))
    if not isinstance(spec, str):
        raise UsageError(f"a spec is a path, a bundled name or spec text, not {type(spec).__name__}")
    if "\n" in spec or spec.lstrip("\ufeff \t").startswith(("network", "#")):
        return Source("<spec>", spec)
    return sources.read(sources.resolve(spec))


def parse_input(text: str) -> tuple[int, int, int]:
    """`3x224x224` → (3, 224, 224), for ``--input`` and ``input=``."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(re.fullmatch(r"0*[1-9][0-9]{0,8}", p) for p in parts):
        raise UsageError(f"`{text[:40]}` is not an input shape",
                         hint="write C×H×W, e.g. 3x224x224")
    return _within_limits(tuple(int(p) for p in parts))


def input_shape(input: "str | tuple[int, int, int]") -> tuple[int, int, int]:
    """``input=`` as (C, H, W): from ``"3x224x224"`` or three whole numbers."""
    if isinstance(input, str):
        return parse_input(input)
    shape = tuple(input) if isinstance(input, (tuple, list)) else ()
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise UsageError(f"{input!r} is not an input shape",
                         hint="give C, H, W as whole numbers, e.g. (3, 224, 224) or \"3x224x224\"")
    return _within_limits(shape)


def _within_limits(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    written = "×".join(map(str, shape))
    if min(shape) < 1:
        raise UsageError(f"input shape {written} has an empty axis")
    if max(shape) > limits.MAX_SIZE:
        raise UsageError(f"input shape {written} has an axis longer than {limits.MAX_SIZE:,}",
                         hint="archc's limit on any one size (archc.limits.MAX_SIZE)")
    return shape


def analyze(spec: "str | os.PathLike | Source | ir.Network",
            input: "str | tuple[int, int, int] | None" = None) -> ir.Network:
    """Parse, elaborate and analyse a spec; every node of the result carries its ``info``.

    ``input`` overrides the spec's input shape (``"3x256x256"`` or ``(3, 256, 256)``), for
    spec text and IR networks alike; the spec's `expect` lines, which describe its own
    input, are then dropped.  Raises :class:`~archc.errors.ArchcError` for
    anything wrong with the spec.
    """
    shape = input_shape(input) if input is not None else None
    if isinstance(spec, ir.Network):
        net = spec
    else:
        source = load_source(spec)
        net = elaborate(parse(source.text, source.path))
    if shape is not None:
        net = _at_input(net, ir.Shape(*shape))
    return net if net.analysed else analysis.analyze(net)


def _at_input(net: ir.Network, shape: ir.Shape) -> ir.Network:
    """``net`` fed ``shape`` (not yet analysed), without `expect` lines unless it is the
    network's own input."""
    if shape == net.input:
        return net
    first, *rest = net.nodes  # elaboration puts the Input node first
    nodes = (replace(first, layer=ir.Input(shape)), *rest)
    return replace(net, input=shape, nodes=tuple(replace(n, info=None) for n in nodes),
                   expects=(), warnings=())


def graph(*specs: "str | os.PathLike | Source | ir.Network", collapse: bool = False,
          batch: int = 1, dtype: str = "fp32", input=None):
    """The interactive page of one network, or several side by side, as an object that
    Jupyter displays (:class:`archc.view.Graph`; ``.html()`` is the page, ``.save(path)``
    writes it).  ``batch`` and ``dtype``: what the saved memory is counted at."""
    from . import stats, view

    if dtype not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"dtype is fp32, bf16 or fp16, not {dtype!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1 << 20:
        raise UsageError(f"batch is a whole number from 1 to {1 << 20:,}, not {batch!r}")
    nets = [analyze(spec, input) for spec in specs]
    return view.Graph(*nets, collapse=collapse, settings=stats.Memory(batch, dtype))


def generate(spec: "str | os.PathLike | ir.Network",
             input: "str | tuple[int, int, int] | None" = None) -> str:
    """The Python source of the PyTorch module for a spec (what `archc compile` writes)."""
    from . import codegen

    return codegen.generate(analyze(spec, input))


_LOADED: dict[str, types.ModuleType] = {}
_LOADING = threading.Lock()  # one import per source, however many threads ask at once


def load(spec: "str | os.PathLike | ir.Network",
         input: "str | tuple[int, int, int] | None" = None) -> types.ModuleType:
    """Compile a spec in memory and import the result; the same source gives the same module.

    The module is registered in ``sys.modules`` (as ``archc_generated_<name>_<hash>``), so
    its models pickle and deepcopy within this process; for other processes, write it out
    with `archc compile` and import the file.
    """
    from . import codegen, extras

    extras.need("torch", "torch", "a generated module")
    net = analyze(spec, input)
    source = codegen.generate(net)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    with _LOADING:
        return _LOADED.get(digest) or _import(net, source, digest)


def _import(net: ir.Network, source: str, digest: str) -> types.ModuleType:
    name = f"archc_generated_{net.name}_{digest}"
    filename = f"<archc: {net.name} from {net.source.path}>"
    module = types.ModuleType(name, f"Generated by archc from {net.source.path}")
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[name] = module
    try:
        exec(builtins.compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    _LOADED[digest] = module
    return module


def build(spec: "str | os.PathLike | ir.Network",
          input: "str | tuple[int, int, int] | None" = None, **kwargs):
    """An instance of the network a spec describes: ``load(spec).Model(**kwargs)``.

    kwargs: ``num_classes``, ``dropout``, ``init`` ("spec", "kaiming", "torch") and
    ``backend``.  A network whose parameters alone would not fit in the memory of the
    device it is built on is refused (:class:`~archc.errors.UsageError`) before anything
    is allocated; on the meta device anything goes.
    """
    model_class = load(spec, input).Model
    import torch
    device = torch.get_default_device() if hasattr(torch, "get_default_device") else None
    device = device or torch.device("cpu")
    if device.type != "meta":
        with torch.device("meta"):
            params = sum(p.numel() for p in model_class(**kwargs).parameters())
        fits(params, torch.get_default_dtype(), device)
    return model_class(**kwargs)


def fits(params: int, dtype, device) -> None:
    """Raise (a UsageError) if ``params`` parameters of ``dtype`` exceed the memory of
    ``device``: what :func:`build` checks, and `archc train` for the GPU it moves to."""
    import torch

    from . import stats

    size = params * dtype.itemsize
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory
        where = f"the memory of {torch.cuda.get_device_name(device)}"
    else:
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):  # not a POSIX system: let torch try
            return
        where = "this machine's memory"
    if size > memory:
        raise UsageError(f"the network's {params:,} parameters take {stats.size(size)} in "
                         f"{str(dtype).removeprefix('torch.')}, more than {where} "
                         f"({stats.size(memory)})",
                         hint="archc.analyze counts a network without building it; build "
                              "on the meta device (with torch.device('meta')) to inspect it")
