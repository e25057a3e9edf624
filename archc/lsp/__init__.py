"""archc's language server: what archc knows about a spec, in the editor as it is typed.

``document.py`` answers the editor's questions from one analysis of a document's text
(diagnostics, hover, inlay hints, definitions, references, symbols, completion,
formatting) in archc's own terms; ``server.py`` speaks the Language Server Protocol
with pygls (the ``[lsp]`` extra).  Both use only the compiler's public results: the
AST, the analysed IR, the expect outcomes, the formatter.
"""
