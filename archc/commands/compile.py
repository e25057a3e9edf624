"""`archc compile`: write the PyTorch module for a spec."""

from __future__ import annotations

import argparse
import sys

from . import common

SUMMARY = "write the PyTorch module for a spec"


def configure(parser: argparse.ArgumentParser):
    common.spec_args(parser, several=False)
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="a .py file, a folder, or - for standard output "
                             "(default: NAME.py here, NAME being the network's)")
    common.input_arg(parser, "build the network")
    common.force(parser, "PATH")
    common.quiet(parser)


def run(args) -> int:
    from .. import analysis, codegen, output

    net, failed = common.analyze(args.spec, args.quiet, args.input)
    path = common.emit(args, codegen.generate(net), f"{net.name}.py", output.python_file)
    if path is not None:
        params = analysis.totals(net).params
        print(f"wrote {path}: class {net.class_name}, {params:,} parameters")
        if not path.stem.isidentifier():
            print(f"warning: `{path.name}` cannot be imported by name; call it e.g. "
                  f"`{net.name}.py`", file=sys.stderr)
        elif path.stem in sys.stdlib_module_names:
            print(f"warning: `{path.name}` hides Python's `{path.stem}` module from scripts "
                  f"in its folder; call it e.g. `{path.stem}_net.py`", file=sys.stderr)
    return common.EXIT_EXPECT if failed else common.EXIT_OK
