"""The page: one self-contained HTML document (templates/view/) that draws one network, or
several side by side, and answers questions about each layer by pointing at it.

Everything the page needs is inline — its script, its style, its data, the drawing — and
its Content-Security-Policy says so: nothing may be fetched, and only the page's own
script (named by its SHA-256) may run, so that even markup a spec managed to smuggle in
could not act.  The spec's text, names and file names travel only as JSON data in a
``<script type="application/json">`` element (with ``<``, ``>`` and ``&`` written as
``\\u003c`` ... so that no text can close it), which the script shows as text.

``live``: the page `archc view` serves; it also follows the server's event stream (the
one place it may connect to, its own origin) and redraws when the spec changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from .. import sources


def html(data: dict, live: bool = False) -> str:
    """The page for ``data`` (what :func:`archc.view.state` gives)."""
    from markupsafe import Markup

    from .. import __version__

    script, style = _asset("view.js"), _asset("view.css")
    template = _environment().get_template("page.html.j2")
    names = [n["name"] for n in data.get("networks", [])]
    return template.render(
        title=" vs ".join(names) if names else "archc",
        version=__version__,
        policy=policy(live),
        style=Markup(style),
        script=Markup(script),
        data=Markup(script_json({**data, "live": live})),
    )


def policy(live: bool) -> str:
    """The Content-Security-Policy: no fetch of any kind (a live page: its own event
    stream), no script but the page's own, no style but its own."""
    script, style = _asset("view.js"), _asset("view.css")
    connect = "'self'" if live else "'none'"
    return (f"default-src 'none'; script-src '{_digest(script)}'; "
            f"style-src '{_digest(style)}'; img-src data:; connect-src {connect}; "
            f"base-uri 'none'; form-action 'none'")


def script_json(data) -> str:
    """``data`` as JSON that no text inside it can end the script element it sits in."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    text = (sources.templates_dir() / "view" / name).read_text(encoding="utf-8")
    # The page's own text must not end its element early (the data is escaped for that).
    assert "</script" not in text.lower() and "</style" not in text.lower(), name
    return text


@lru_cache(maxsize=None)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sources.templates_dir() / "view")),
        autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
