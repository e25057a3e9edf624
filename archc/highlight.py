"""A Pygments lexer for archc specs (`.arch`), so that Sphinx, MkDocs and anything else
that highlights with Pygments shows a spec as archc reads it.

It is registered as the entry point ``pygments.lexers: arch`` (pyproject.toml): with
archc installed, ``pygmentize -l arch specs/vgg_e.arch`` and a Markdown fence
```` ```arch ```` use it.  It follows grammar.lark's terminals: keywords, layer words
(from archc.vocabulary, so a misspelt one is not highlighted as a layer), labels,
options, numbers and shapes, repeat counts, `expect` figures, table rows, comments.
Only a character no spec may hold (`$`, `@`, a stray `×`) is an error token: every
bundled spec and every spec in the README lexes without one (tests/test_editors.py).
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator, Punctuation,
                            String, Whitespace)

from . import vocabulary

_LAYER_WORDS = vocabulary.layer_pattern()
_WORD = r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*"
_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?%?"


class ArchLexer(RegexLexer):
    """archc's network descriptions: VGG's `conv3-64 ×2; maxpool` and the rest."""

    name = "archc"
    aliases = ["arch", "archc"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-archc"]
    url = "https://github.com/archc/archc"
    flags = re.MULTILINE | re.IGNORECASE

    tokens = {
        "root": [
            include("space"),
            (r"(network)(\s+)(" + _WORD + r")(\s+)(input)(\s+)([0-9]+[x×][0-9]+[x×][0-9]+)",
             bygroups(Keyword.Declaration, Whitespace, Name.Class, Whitespace, Keyword,
                      Whitespace, Number)),
            (r"(block)(\s+)(" + _WORD + r")", bygroups(Keyword.Declaration, Whitespace,
                                                      Name.Function)),
            (r"(table)(\s+)(" + _WORD + r")(\s*)(\{)",
             bygroups(Keyword.Declaration, Whitespace, Name.Constant, Whitespace,
                      Punctuation), "table"),
            (r"(use)(\s+)(\"[^\"\n]*\"?)", bygroups(Keyword.Namespace, Whitespace, String)),
            (r"expect\b", Keyword, "expect"),
            (r"(default|activation|init)\b", Keyword),
            (r"(train|schedule|augment|evaluate)\b", Keyword.Reserved),
            (r"(concat|add|mul|side)\b", Keyword),
            (r"(" + _WORD + r"(?:-?\{[0-9]+\})?|\{[0-9]+\})(\s*)(:)",
             bygroups(Name.Label, Whitespace, Punctuation)),
            (r"(" + _WORD + r")(=)", bygroups(Name.Attribute, Operator)),
            (r"×[ \t]*[0-9]+|x[0-9]+\b", Operator),
            (r"[0-9]+(?:\.[0-9]+)?%?\.\.[0-9]+(?:\.[0-9]+)?%?", Number),
            (_NUMBER, Number),
            (r"(?:" + _LAYER_WORDS + r")(?![A-Za-z0-9_-])", Name.Builtin),
            (r"(" + _WORD + r")(?=\s*\()", Name.Function),  # a block call
            (_WORD, Name),
            (r"/", Operator),
            (r"[{}();,]", Punctuation),
            (r"\"[^\"\n]*\"?", String),
            (r"[^\s]", Error),  # what archc will refuse, with a message of its own
        ],
        "space": [
            (r"#[^\n]*", Comment.Single),
            (r"\n", Whitespace),
            (r"[ \t\f\r\ufeff]+", Whitespace),
        ],
        "expect": [
            (r"\n|(?=;)|(?=#)", Whitespace, "#pop"),
            (r"[ \t\f\r]+", Whitespace),
            (r"(inference|at|disputed)\b", Keyword),
            (r"(=|≈|~)", Operator),
            (r"(±|\+-)[ \t]*[0-9]+(?:\.[0-9]+)?%", Number),
            (r"[0-9][^\s#;]*", Number),
            (_WORD + r"(?:\.[A-Za-z0-9_]+)*", Name),
            (r"[^\s#;]", Error),
        ],
        "table": [
            include("space"),
            (r"\}", Punctuation, "#pop"),
            (r"[Xx]", Keyword.Constant),
            (r"[.\-]", Punctuation),
            (r"[^\s}]", Error),
        ],
    }
