"""The `archc` command line.

Exit codes: 0 success; 1 an `expect` line does not hold; 2 bad input — a spec that does
not parse or analyse, a missing file, a wrong argument.  Errors and warnings go to stderr.
Subcommands import what they need when they run, so `archc --help` is instant and
`archc stats` never imports torch.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from . import sources
from .errors import ArchcError, SpecError
from .terminal import Terminated, terminal

EXIT_OK, EXIT_EXPECT, EXIT_INPUT = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    with terminal():
        parser = _parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return EXIT_INPUT
        if getattr(args, "specs", []).count(sources.STDIN) > 1:
            parser.error("standard input (-) can be read only once")
        try:
            return args.run(args)
        except ArchcError as exc:
            print(exc.render(), file=sys.stderr)
            return EXIT_INPUT
        except KeyboardInterrupt:
            return 130
        except Terminated as exc:  # SIGTERM or SIGHUP: `finally` blocks have cleaned up
            return 128 + exc.signal
        except BrokenPipeError:  # `archc stats ... | head`
            sys.stderr.close()
            return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="archc",
        description="Compile convolutional-network architectures written the way the "
                    "classic papers print them.",
        epilog="Exit codes: 0 ok, 1 an expect line does not hold, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"archc {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, (run, configure, summary) in _COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        configure(sub)
        sub.set_defaults(run=run)
    return parser


def _whole(lo: int, hi: int | None = None):
    """An argparse type: a whole number from ``lo`` (to ``hi``), else a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi:,}" if hi is not None else f"of at least {lo}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, not {text!r}")
        return value
    return parse


def _input_arg(parser: argparse.ArgumentParser, verb: str):
    parser.add_argument("--input", metavar="CxHxW",
                        help=f"{verb} at another input size, e.g. 3x32x32 "
                             "(expect lines are then not checked)")


def _spec_args(parser: argparse.ArgumentParser, several: bool = True):
    parser.add_argument("specs" if several else "spec", nargs="+" if several else None,
                        metavar="SPEC", help="a .arch file, the name of a bundled spec "
                                             "such as vgg_e (see `archc specs`), or - to "
                                             "read standard input")


def _quiet(parser: argparse.ArgumentParser):
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")


# -- stats -------------------------------------------------------------------------------------


def _configure_stats(parser: argparse.ArgumentParser):
    from .stats import FORMATS

    _spec_args(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, default="table",
                        help="output format (default: table)")
    _input_arg(parser, "analyse")
    parser.add_argument("--all", action="store_true",
                        help="also list the activations archc adds after conv and FC layers")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw params and MACs per layer (or per network) to FILE "
                             "(.png, .svg or .pdf)")
    parser.add_argument("--force", action="store_true",
                        help="let --plot overwrite FILE even if archc did not write it")
    parser.add_argument("--no-table", action="store_true",
                        help="print no table (with --plot: only draw the chart)")
    memory = parser.add_argument_group(
        "memory", "what the network needs to run and to train (any of these shows it)")
    memory.add_argument("--memory", action="store_true", help="at the defaults below")
    memory.add_argument("--batch", type=_whole(1, 1 << 20), help="images per batch (default 1)")
    memory.add_argument("--dtype", choices=("fp32", "bf16", "fp16"),
                        help="of parameters and activations (default fp32)")
    memory.add_argument("--optimizer", choices=("sgd", "momentum", "adam"),
                        help="whose state training keeps (default momentum: SGD with momentum)")
    memory.add_argument("--device", choices=("cuda", "cpu"),
                        help="where it runs: dropout's mask is a byte per element on a GPU, "
                             "an activation's size on the CPU (default cuda)")
    _quiet(parser)


def _stats(args) -> int:
    from . import stats

    results = [_analyze(spec, args.quiet, args.input) for spec in args.specs]
    nets = [net for net, _ in results]
    failed = any(bad for _, bad in results)
    if args.plot:
        from . import plot

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
    return EXIT_EXPECT if failed else EXIT_OK


# -- check -------------------------------------------------------------------------------------


def _configure_check(parser: argparse.ArgumentParser):
    _spec_args(parser)
    _quiet(parser)


def _check(args) -> int:
    from . import verify

    status = EXIT_OK
    for spec in args.specs:
        try:
            net, failed = _analyze(spec, args.quiet)
        except ArchcError as exc:
            print(exc.render(), file=sys.stderr)
            status = EXIT_INPUT
            continue
        outcomes = verify.check(net)
        held = sum(o.holds for o in outcomes)
        verdict = "FAILED" if failed else "ok"
        print(f"{verdict:6} {net.source.path}: {net.name}, {held} of {len(outcomes)} "
              f"expect lines hold")
        if failed and status == EXIT_OK:
            status = EXIT_EXPECT
    return status


def _analyze(spec, quiet: bool, input: str | None = None):
    """The analysed network, its warnings printed and its expect lines checked (an
    overridden input drops them: they describe the spec's own); True if one does not hold."""
    from . import api

    # A command-line argument names a file or a bundled spec, never spec text (a file's
    # name may hold a newline, which api.analyze would take for text).
    net = api.analyze(sources.load(spec), input=input)
    _warn(net, quiet)
    return net, _report_expects(net, quiet)


def _warn(net, quiet: bool):
    if not quiet:
        for warning in net.warnings:
            print(warning.render(), file=sys.stderr)


def _report_expects(net, quiet: bool) -> bool:
    """Print failed (and, unless quiet, disputed) expect lines; True if any failed."""
    from . import verify

    failed = False
    for outcome in verify.check(net):
        if outcome.failed:
            failed = True
            print(SpecError(outcome.message, outcome.expectation.loc).render(), file=sys.stderr)
        elif outcome.expectation.disputed and not quiet:
            print(f"{outcome.expectation.loc}: note: {outcome.message}", file=sys.stderr)
    return failed


# -- compile -----------------------------------------------------------------------------------


def _configure_compile(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="a .py file, a folder, or - for standard output "
                             "(default: NAME.py here, NAME being the network's)")
    _input_arg(parser, "build the network")
    parser.add_argument("--force", action="store_true",
                        help="overwrite PATH even if archc did not write it")
    _quiet(parser)


def _compile(args) -> int:
    from . import analysis, codegen, output

    net, failed = _analyze(args.spec, args.quiet, args.input)
    path = _emit(args, codegen.generate(net), f"{net.name}.py", output.python_file)
    if path is not None:
        params = analysis.totals(net).params
        print(f"wrote {path}: class {net.class_name}, {params:,} parameters")
        if not path.stem.isidentifier():
            print(f"warning: `{path.name}` cannot be imported by name; call it e.g. "
                  f"`{net.name}.py`", file=sys.stderr)
        elif path.stem in sys.stdlib_module_names:
            print(f"warning: `{path.name}` hides Python's `{path.stem}` module from scripts "
                  f"in its folder; call it e.g. `{path.stem}_net.py`", file=sys.stderr)
    return EXIT_EXPECT if failed else EXIT_OK


def _emit(args, text: str, default: str, ours):
    """Text a command writes: to standard output for `-o -`, else to the file `-o` names
    (or ``default``, here or in the folder `-o` names), safely; the path, or None."""
    from pathlib import Path

    from . import output

    if args.output == "-":
        sys.stdout.write(text)
        return None
    path = Path(args.output or default)
    if path.is_dir():
        path = path / default
    output.write(path, text, force=args.force, ours=ours)
    return path


# -- graph -------------------------------------------------------------------------------------


def _configure_graph(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="FILE.svg, .png, .pdf or .dot (default: NAME.svg here)")
    parser.add_argument("--detail", action="store_true",
                        help="show parameters, MACs and the receptive field in each box")
    parser.add_argument("--collapse", action="store_true",
                        help="draw layers written with ×N once, marked ×N")
    parser.add_argument("--dpi", type=_whole(1, 1200), default=144,
                        help="resolution of a .png, 1 to 1200 (default 144)")
    _input_arg(parser, "draw the network")
    parser.add_argument("--force", action="store_true",
                        help="overwrite FILE even if archc did not write it")
    _quiet(parser)


def _graph(args) -> int:
    from pathlib import Path

    from . import output, render

    net, failed = _analyze(args.spec, args.quiet, args.input)
    path = Path(args.output or f"{net.name}.svg")
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in render.FORMATS:
        raise ArchcError(f"cannot draw to `{path}`", hint="use a .svg, .png, .pdf or .dot file")
    source = render.dot(net, detail=args.detail, collapse=args.collapse)
    data = source if fmt in ("dot", "gv") else render.render(source, fmt, dpi=args.dpi)
    output.write(path, data, force=args.force, ours=output.picture)
    print(f"wrote {path}")
    return EXIT_EXPECT if failed else EXIT_OK


# -- bench -------------------------------------------------------------------------------------


def _configure_bench(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
    parser.add_argument("--batch", type=_whole(1),
                        help="images per batch (default: 128 on a GPU, 2 on the CPU)")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"),
                        help="default: bf16 on a GPU, fp32 on the CPU")
    parser.add_argument("--backward", action="store_true", help="time forward and backward")
    parser.add_argument("--max-autotune", action="store_true",
                        help="add torch.compile(mode='max-autotune') (GPU only; slow to compile)")
    parser.add_argument("--runs", type=_whole(1), default=100,
                        help="timing budget per backend, in ms (default 100)")
    _quiet(parser)


def _bench(args) -> int:
    from . import analysis, bench, extras

    torch = extras.need("torch", "torch", "`archc bench`")
    cuda = torch.cuda.is_available()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32,
             None: torch.bfloat16 if cuda else torch.float32}[args.dtype]
    batch = args.batch or (128 if cuda else 2)
    _, failed = _analyze(args.spec, args.quiet)
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
    return EXIT_EXPECT if failed else EXIT_OK


# -- train, eval -------------------------------------------------------------------------------


def _number(lo: float, hi: float | None = None):
    """An argparse type: a number from ``lo`` (to ``hi``), else a usage error."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value >= lo or (hi is not None and not value <= hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}, not {text!r}")
        return value
    return parse


def _device_arg(parser: argparse.ArgumentParser):
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run (default: the GPU if there is one)")
    parser.add_argument("--workers", type=_whole(0, 256), default=2,
                        help="data-loading worker processes (default 2; 0: none)")


def _configure_train(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
    parser.add_argument("--data", required=True, metavar="DATA",
                        help="an ImageFolder tree (DATA/train/CLASS/*, DATA/val/CLASS/*) or "
                             "`digits` (scikit-learn's handwritten digits)")
    parser.add_argument("-o", "--output", metavar="RUN_DIR",
                        help="the run's folder (default: runs/NAME); it must be new or empty")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR after its last finished epoch")
    recipe = parser.add_argument_group("recipe overrides", "recorded in the run")
    recipe.add_argument("--lr", type=_number(1e-12), help="learning rate")
    recipe.add_argument("--batch", type=_whole(1, 1 << 20), help="the global batch")
    recipe.add_argument("--epochs", type=_whole(1, 100_000), help="epochs")
    recipe.add_argument("--momentum", type=_number(0, 0.999999), help="SGD's momentum")
    recipe.add_argument("--weight-decay", type=_number(0), help="weight decay")
    parser.add_argument("--seed", type=_whole(0, 2 ** 31), default=0,
                        help="for the initial weights, the data order and augmentation")
    _device_arg(parser)
    parser.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 autocast)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--backend", choices=("torch", "triton", "auto"), default="torch",
                        help="the generated module's backend (default torch)")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start from the layers of a trained checkpoint whose names and "
                             "shapes match (VGG §3.1: D and E from A)")
    parser.add_argument("--plot", metavar="FILE", help="draw the learning curves to FILE "
                                                       "(.png, .svg or .pdf) at the end")
    parser.add_argument("--log-every", type=_whole(1), default=20, metavar="STEPS",
                        help="a metrics line every STEPS steps (default 20)")
    parser.add_argument("--max-steps", type=_whole(1), metavar="STEPS",
                        help="stop after STEPS steps in all (a quick try)")
    _quiet(parser)


def _train(args) -> int:
    from pathlib import Path

    from .extras import need

    need("torchvision", "train", "`archc train`")
    from .train import Options, train

    if args.resume and args.output:
        raise ArchcError("--resume continues a run in its own folder: give no -o")
    if args.plot:  # before the run, not after hours of it
        from . import plot

        plot.check(args.plot)
        need("matplotlib.figure", "graph", "--plot")
    net, failed = _analyze(args.spec, args.quiet)
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
    return EXIT_EXPECT if failed else EXIT_OK


def _configure_eval(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
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
    parser.add_argument("--batch", type=_whole(1, 4096), default=32,
                        help="images per batch (default 32; dense takes one at a time)")
    _device_arg(parser)
    parser.add_argument("--format", "-f", choices=("text", "json"), default="text")
    _quiet(parser)


def _eval(args) -> int:
    import json
    from dataclasses import replace

    from . import api, ir
    from .extras import need

    need("torchvision", "train", "`archc eval`")
    from .train import data, evaluate, weights
    from .train.run import _device

    net, failed = _analyze(args.spec, args.quiet)
    recipe = net.recipe or ir.Recipe()
    protocol = recipe.evaluation
    if args.protocol is not None and args.protocol != protocol.protocol:
        protocol = ir.Evaluation(args.protocol)
    if args.scales is not None:
        try:
            scales = tuple(int(s) for s in args.scales.split(","))
        except ValueError:
            scales = ()
        if not scales or min(scales) < 1:
            raise ArchcError(f"--scales {args.scales!r}: give shorter sides, e.g. 256,384,512")
        protocol = replace(protocol, scales=scales)
    if args.flip is not None:
        protocol = replace(protocol, flip=args.flip)
    if protocol.protocol == "dense" and not protocol.scales:
        raise ArchcError("dense evaluation needs --scales (or the recipe's `evaluate dense "
                         "scales=(...)`)")
    crop = (net.input.height, net.input.width)
    if protocol.protocol == "multi-crop":
        protocol = replace(protocol, scales=data.multi_crop_scales(net, protocol))
        if min(protocol.scales) < max(crop):
            raise ArchcError(f"--scales {args.scales}: multi-crop cuts {crop[0]}×{crop[1]} "
                             f"crops from squares of each scale, so no scale may be smaller "
                             f"than {max(crop)}")
    found = weights.load(args.weights, net.source.text)
    sets = data.load(args.data, net, recipe, protocol)
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
    model = api.load(net).Model(num_classes=len(found.classes), init="torch")
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
    return EXIT_EXPECT if failed else EXIT_OK


# -- import, export -----------------------------------------------------------------------------


def _configure_import(parser: argparse.ArgumentParser):
    parser.add_argument("prototxt", metavar="FILE.prototxt",
                        help="a Caffe network definition (deploy or train_val, either format)")
    parser.add_argument("-o", "--output", metavar="SPEC",
                        help="the spec to write, or - for standard output (default: NAME.arch "
                             "here, NAME being the network's)")
    _input_arg(parser, "import the network")
    parser.add_argument("--expect", action="store_true",
                        help="add expect lines: Caffe's parameter count and output shape")
    parser.add_argument("--force", action="store_true",
                        help="overwrite SPEC even if archc did not write it")
    _quiet(parser)


def _import(args) -> int:
    from pathlib import Path

    from . import output
    from .caffe import importer

    path = Path(args.prototxt)
    if not path.is_file():
        raise ArchcError(f"no file `{path}`")
    result = importer.import_text(sources.read(path), input=args.input, expect=args.expect)
    target = _emit(args, result.text, f"{result.network}.arch",
                   output.begins_with(importer.MARK.encode()))
    if target is not None:
        print(f"wrote {target}: network {result.network}", file=sys.stderr)
    return EXIT_OK


def _configure_export(parser: argparse.ArgumentParser):
    _spec_args(parser, several=False)
    parser.add_argument("--caffe", action="store_true", required=True,
                        help="a Caffe deploy definition, current format (the one format so far)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="the .prototxt to write, or - (default: NAME.prototxt here)")
    _input_arg(parser, "export the network")
    parser.add_argument("--force", action="store_true",
                        help="overwrite FILE even if archc did not write it")
    _quiet(parser)


def _export(args) -> int:
    from . import output
    from .caffe import exporter

    net, failed = _analyze(args.spec, args.quiet, args.input)
    target = _emit(args, exporter.export(net), f"{net.name}.prototxt",
                   output.begins_with(exporter.MARK.encode()))
    if target is not None:
        print(f"wrote {target}", file=sys.stderr)
    return EXIT_EXPECT if failed else EXIT_OK


# -- specs -------------------------------------------------------------------------------------


def _configure_specs(parser: argparse.ArgumentParser):
    pass


def _specs(args) -> int:
    import textwrap

    folder = sources.specs_dir()
    for name in sources.bundled():
        title = _description((folder / f"{name}.arch").read_text(encoding="utf-8"))
        print(textwrap.fill(title, 88, initial_indent=f"{name:12} ", subsequent_indent=" " * 13)
              if title else name)
    print(f"\n(in {folder})")
    return EXIT_OK


def _description(text: str) -> str:
    """What a spec is, from its opening comment: the first sentence, up to a dash."""
    first = sources.header(text).split(" — ")[0]
    return re.split(r"(?<=[.:;])\s", first, maxsplit=1)[0].rstrip(".:;")


_COMMANDS = {
    "stats": (_stats, _configure_stats,
              "per-layer shapes, parameters, MACs and receptive fields, and totals"),
    "check": (_check, _configure_check,
              "parse and analyse specs and verify their expect lines"),
    "compile": (_compile, _configure_compile,
                "write the PyTorch module for a spec"),
    "graph": (_graph, _configure_graph,
              "draw the network as the papers do (SVG, PNG, PDF or DOT)"),
    "bench": (_bench, _configure_bench,
              "time the network on a GPU: fused Triton kernels against PyTorch"),
    "train": (_train, _configure_train,
              "train the network with its spec's recipe (one CPU, one GPU, or torchrun)"),
    "eval": (_eval, _configure_eval,
             "top-1 and top-5 error of trained weights, with the paper's test protocol"),
    "import": (_import, _configure_import,
               "write the spec for a Caffe network definition (.prototxt)"),
    "export": (_export, _configure_export,
               "write a spec as a Caffe deploy definition (.prototxt)"),
    "specs": (_specs, _configure_specs, "list the bundled specs"),
}
