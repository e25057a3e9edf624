"""`archc lsp`: the language server, over stdin and stdout (archc/lsp/)."""

from __future__ import annotations

import argparse

from . import common

SUMMARY = "run the language server (LSP over stdio) for editors"


def configure(parser: argparse.ArgumentParser):
    parser.add_argument("--stdio", action="store_true",
                        help="talk over stdin and stdout (the default, and the only way; "
                             "accepted because editors' clients pass it)")


def run(args) -> int:
    from ..extras import need

    need("pygls", "lsp", "`archc lsp`")
    from ..lsp import server

    server.serve()
    return common.EXIT_OK
