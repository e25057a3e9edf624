"""The `archc` subcommands, one module each: ``SUMMARY`` (one line for `archc --help`),
``configure(parser)`` (its arguments) and ``run(args) -> int`` (its exit code).

:data:`COMMANDS` is the table :mod:`archc.cli` builds the command line from.  A command
module imports only argparse-level helpers at its top; what its work needs it imports
when it runs, so that `archc --help` is instant and `archc stats` never imports torch.
"""

COMMANDS = ("stats", "check", "compile", "graph", "view", "bench", "train", "eval", "import",
            "export", "fmt", "lsp", "specs")
"""The subcommands in the order `archc --help` lists them; each is ``archc.commands.NAME``
(`import` is ``archc.commands.import_``, `eval` ``eval_``)."""


def module_name(command: str) -> str:
    """The module that implements ``command``."""
    return f"{__name__}.{command}_" if command in ("import", "eval") else f"{__name__}.{command}"
