"""What reaches the terminal while a command runs: printable text in any encoding, and
SIGTERM or SIGHUP turned into an exception so that a write in progress cleans up."""

from __future__ import annotations

import codecs
import contextlib
import signal
import sys
import threading

from .errors import printable


class Terminated(BaseException):
    """Raised in place of dying from SIGTERM or SIGHUP, so that a write in progress
    removes its temporary file on the way out.  Like KeyboardInterrupt, it is not an
    Exception: code that catches a failure (decoding an image, say) must not catch it."""

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
def terminal():
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
            raise Terminated(signum)
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
