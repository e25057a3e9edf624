"""The `archc` command line: a table of subcommands (:mod:`archc.commands`, one module
each) and what every command shares — its errors, signals and exit codes.

Exit codes: 0 success; 1 an `expect` line does not hold; 2 bad input — a spec that does
not parse or analyse, a missing file, a wrong argument.  Errors and warnings go to stderr.
Subcommands import what they need when they run, so `archc --help` is instant and
`archc stats` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import sources
from .commands import COMMANDS, module_name
from .commands.common import EXIT_EXPECT, EXIT_INPUT, EXIT_OK  # noqa: F401 - re-exported
from .errors import ArchcError
from .terminal import Terminated, terminal


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
    for name in COMMANDS:
        command = importlib.import_module(module_name(name))
        sub = commands.add_parser(name, help=command.SUMMARY, description=command.SUMMARY)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser
