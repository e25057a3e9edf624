"""`archc lsp`: the Language Server Protocol over stdio, with pygls.

A thin layer: each open document is analysed on open and on every change
(:func:`archc.lsp.document.analyse`), its diagnostics published, and every request
answered from that one analysis.  Positions cross between the protocol's units (UTF-16
by default) and archc's 1-based columns through the document's own position codec.

It never dies: a handler that fails answers nothing (and the failure goes to the
editor's log as a message, not to stderr as a traceback); a document that cannot be
read is a diagnostic.
"""

from __future__ import annotations

import functools
import logging

from lsprotocol import types

from .. import __version__
from . import document

_SEVERITY = {document.ERROR: types.DiagnosticSeverity.Error,
             document.WARNING: types.DiagnosticSeverity.Warning,
             document.INFORMATION: types.DiagnosticSeverity.Information}
_SYMBOL = {"network": types.SymbolKind.Class, "block": types.SymbolKind.Function,
           "table": types.SymbolKind.Constant, "group": types.SymbolKind.Namespace,
           "side": types.SymbolKind.Event, "layer": types.SymbolKind.Field}
_COMPLETION = {"keyword": types.CompletionItemKind.Keyword,
               "function": types.CompletionItemKind.Function,
               "property": types.CompletionItemKind.Property,
               "constant": types.CompletionItemKind.Constant,
               "value": types.CompletionItemKind.Value}


def serve() -> None:
    """Run the server on stdin and stdout until the editor says exit."""
    logging.getLogger("pygls").addHandler(logging.NullHandler())
    logging.getLogger("pygls").propagate = False
    _server().start_io()


def _server():
    from pygls.lsp.server import LanguageServer

    server = LanguageServer("archc", __version__)
    analyses: dict[str, document.Analysis] = {}

    def guarded(handler):
        """A handler that cannot fail: on any error it answers None and says so."""
        @functools.wraps(handler)
        def run(ls, params):
            try:
                return handler(ls, params)
            except Exception as exc:  # noqa: BLE001 - the server must outlive any bug
                try:
                    ls.window_log_message(types.LogMessageParams(
                        types.MessageType.Error, f"archc lsp: {type(exc).__name__}: {exc}"))
                except Exception:  # noqa: BLE001
                    pass
                return None
        return run

    def refresh(ls, uri: str) -> None:
        doc = ls.workspace.get_text_document(uri)
        try:
            text = doc.source
        except (OSError, UnicodeDecodeError) as exc:  # a file that vanished or is not text
            text = None
            diagnostics = [types.Diagnostic(
                types.Range(types.Position(0, 0), types.Position(0, 1)),
                f"cannot read this document: {exc}", types.DiagnosticSeverity.Error,
                source="archc")]
        if text is not None:
            result = document.analyse(document.path_of(uri), text)
            analyses[uri] = result
            diagnostics = [_diagnostic(doc, d) for d in document.diagnostics(result)]
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics))

    def analysis(ls, uri: str) -> document.Analysis:
        if uri not in analyses:
            refresh(ls, uri)
        return analyses[uri]

    def at(ls, params) -> tuple[document.Analysis, int, int]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        position = doc.position_codec.position_from_client_units(doc.lines, params.position)
        return analysis(ls, params.text_document.uri), position.line + 1, position.character + 1

    @guarded
    def changed(ls, params):
        """Opened, edited or saved: analysed again, its diagnostics published."""
        refresh(ls, params.text_document.uri)

    for event in (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE,
                  types.TEXT_DOCUMENT_DID_SAVE):
        server.feature(event)(changed)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded
    def did_close(ls, params: types.DidCloseTextDocumentParams):
        analyses.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded
    def hover(ls, params: types.HoverParams):
        result, line, column = at(ls, params)
        text = document.hover(result, line, column)
        if text is None:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @guarded
    def inlay_hint(ls, params: types.InlayHintParams):
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        first, last = params.range.start.line + 1, params.range.end.line + 1
        hints = []
        for line, column, label in document.inlay_hints(analysis(ls, uri)):
            if first <= line <= last:
                position = _position(doc, line, column)
                hints.append(types.InlayHint(position, label, padding_left=True))
        return hints

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @guarded
    def definition(ls, params: types.DefinitionParams):
        result, line, column = at(ls, params)
        found = document.definition(result, line, column)
        if found is None:
            return None
        path, span = found
        return types.Location(_uri(path), _range(None, span))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @guarded
    def references(ls, params: types.ReferenceParams):
        result, line, column = at(ls, params)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return [types.Location(params.text_document.uri, _range(doc, span))
                for _, span in document.references(result, line, column)]

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded
    def symbols(ls, params: types.DocumentSymbolParams):
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        return [_symbol(doc, s) for s in document.symbols(analysis(ls, uri))]

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[" ", "=", "-"]))
    @guarded
    def completion(ls, params: types.CompletionParams):
        result, line, column = at(ls, params)
        items = [types.CompletionItem(label, kind=_COMPLETION.get(kind), detail=detail)
                 for label, kind, detail in document.completion(result, line, column)]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @guarded
    def formatting(ls, params: types.DocumentFormattingParams):
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        text = document.formatted(analysis(ls, uri))
        if text is None:
            return []
        lines = doc.lines
        end = types.Position(len(lines), 0)
        return [types.TextEdit(types.Range(types.Position(0, 0), end), text)]

    return server


def _position(doc, line: int, column: int) -> types.Position:
    position = types.Position(max(line - 1, 0), max(column - 1, 0))
    return doc.position_codec.position_to_client_units(doc.lines, position)


def _range(doc, span: document.Span) -> types.Range:
    start = types.Position(span.line - 1, span.column - 1)
    end = types.Position(span.end_line - 1, span.end_column - 1)
    if doc is None:
        return types.Range(start, end)
    return doc.position_codec.range_to_client_units(doc.lines, types.Range(start, end))


def _uri(path: str) -> str:
    from pathlib import Path

    return Path(path).resolve().as_uri() if "://" not in path else path


def _diagnostic(doc, d: document.Diagnostic) -> types.Diagnostic:
    related = [types.DiagnosticRelatedInformation(
        types.Location(_uri(path), _range(None, span)), message)
        for path, span, message in d.related]
    return types.Diagnostic(_range(doc, d.span), d.message, _SEVERITY[d.severity],
                            source="archc", related_information=related or None)


def _symbol(doc, s: document.Symbol) -> types.DocumentSymbol:
    full = _range(doc, s.span)
    return types.DocumentSymbol(s.name, _SYMBOL[s.kind], full, full, detail=s.detail or None,
                                children=[_symbol(doc, c) for c in s.children] or None)
