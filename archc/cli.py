"""The `archc` command line.

Exit codes: 0 success; 1 an `expect` line does not hold; 2 bad input — a spec that does
not parse or analyse, a missing file, a wrong argument.  Errors and warnings go to stderr.
Subcommands import what they need when they run, so `archc --help` is instant and
`archc stats` never imports torch.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import re
import signal
import sys
import threading

from . import sources
from .errors import ArchcError, SpecError, printable

EXIT_OK, EXIT_EXPECT, EXIT_INPUT = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    with _terminal():
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
        except _Terminated as exc:  # SIGTERM or SIGHUP: `finally` blocks have cleaned up
            return 128 + exc.signal
        except BrokenPipeError:  # `archc stats ... | head`
            sys.stderr.close()
            return EXIT_OK


# -- what reaches the terminal -----------------------------------------------------------------


class _Terminated(Exception):
    """Raised in place of dying from SIGTERM or SIGHUP, so that a write in progress
    removes its temporary file on the way out."""

    def __init__(self, signal: int):
        super().__init__(signal)
        self.signal = signal


class _Printable:
    """A text stream that passes on only what a terminal shows as it is: no escape
    sequences, bidirectional overrides or other control characters (tabs and newlines
    pass), whatever a file name or a spec holds."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


# What the text archc prints outside ASCII becomes where the terminal's encoding lacks it
# (PYTHONIOENCODING=ascii, LANG=C on old systems); anything else becomes `?`.
_ASCII = {"×": "x", "≈": "~", "±": "+-", "—": "--", "–": "-", "…": "...", "†": "+",
          "→": "->", "·": ".", "²": "^2", "α": "alpha", "β": "beta", "Σ": "sum",
          "≥": ">=", "≤": "<=", "⊕": "(+)", "‘": "'", "’": "'", "“": '"', "”": '"'}


def _ascii_fallback(error: UnicodeError):
    text = error.object[error.start:error.end]
    return "".join(_ASCII.get(char, "?") for char in text), error.end


codecs.register_error("archc.fallback", _ascii_fallback)


@contextlib.contextmanager
def _terminal():
    """For one command: stdout and stderr pass only printable text and never fail on a
    character their encoding lacks; SIGTERM and SIGHUP end the command by an exception."""
    streams = sys.stdout, sys.stderr
    errors = [getattr(s, "errors", None) for s in streams]
    for stream in streams:
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="archc.fallback")
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        def terminate(signum, frame):
            raise _Terminated(signum)
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                number = getattr(signal, name)
                handlers[number] = signal.signal(number, terminate)
    sys.stdout, sys.stderr = _Printable(streams[0]), _Printable(streams[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        for number, handler in handlers.items():
            signal.signal(number, handler)
        for stream, previous in zip(streams, errors):
            if hasattr(stream, "reconfigure") and previous and not stream.closed:
                stream.reconfigure(errors=previous)


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
    from pathlib import Path

    from . import analysis, codegen, output

    net, failed = _analyze(args.spec, args.quiet, args.input)
    source = codegen.generate(net)
    if args.output == "-":
        sys.stdout.write(source)
    else:
        path = Path(args.output or f"{net.name}.py")
        if path.is_dir():
            path = path / f"{net.name}.py"
        output.write(path, source, force=args.force, ours=output.python_file)
        params = analysis.totals(net).params
        print(f"wrote {path}: class {net.class_name}, {params:,} parameters")
        if not path.stem.isidentifier():
            print(f"warning: `{path.name}` cannot be imported by name; call it e.g. "
                  f"`{net.name}.py`", file=sys.stderr)
        elif path.stem in sys.stdlib_module_names:
            print(f"warning: `{path.name}` hides Python's `{path.stem}` module from scripts "
                  f"in its folder; call it e.g. `{path.stem}_net.py`", file=sys.stderr)
    return EXIT_EXPECT if failed else EXIT_OK


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
    "specs": (_specs, _configure_specs, "list the bundled specs"),
}
