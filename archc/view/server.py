"""`archc view`'s server: the page for one spec, on 127.0.0.1 only, redrawn as the spec
changes.

Two addresses answer, and nothing else:

* ``/`` — the page (:func:`archc.view.page.html`, live);
* ``/events`` — a stream of server-sent events: one ``state`` event on connecting (the
  current state) and one each time it changes.

Any other path — a file, a folder, ``..`` spelled in any way — is a 404, whatever is on
disk; so is a request whose Host is not this server's own address (a page elsewhere that
renames itself to 127.0.0.1 cannot read it).  The spec is not served: its text reaches
the page only inside the state.

A :class:`Watcher` polls the spec and every file it `use`s (their size, time and inode,
five times a second) and rebuilds the state when one changes: the page then shows the
new drawing, or the error with the last good drawing beside it.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

from . import page, state
from .. import api, ast, sources, stats
from ..errors import ArchcError
from ..parser import parse

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15


class Watcher:
    """The current state of one spec, rebuilt when it or a file it uses changes."""

    def __init__(self, spec: str, settings: stats.Memory, collapse: bool = False,
                 input: str | None = None):
        self.spec, self.settings, self.collapse, self.input = spec, settings, collapse, input
        self.path = sources.resolve(spec)
        self.version = 0
        self.payload = ""  # the state as JSON, as the event stream sends it
        self.nets: list = []  # the last good networks
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.files: list[Path] = [self.path]
        self._seen: dict[Path, tuple] = {}
        self.rebuild()

    # -- building --------------------------------------------------------------------------

    def rebuild(self) -> None:
        error = None
        try:
            net = api.analyze(sources.load(self.path), input=self.input)
            self.nets = [net]
        except ArchcError as exc:
            error = exc.render()
        except RecursionError:
            error = f"{sources.display_path(self.path)}: error: the spec nests too deeply to analyse"
        try:
            data = state(self.nets, self.settings, self.collapse, version=self.version + 1,
                         error=error)
        except ArchcError as exc:  # drawing failed (Graphviz missing, too slow): say so
            data = state([], self.settings, self.collapse, version=self.version + 1,
                         error=exc.render())
        self.files = self._used_files()
        self._seen = {path: _stamp(path) for path in self.files}
        self._publish(data)

    def _publish(self, data: dict) -> None:
        """Make ``data`` the current state, and wake the event streams."""
        with self.changed:
            self.version += 1
            self.payload = json.dumps({**data, "version": self.version, "live": True},
                                      ensure_ascii=False, separators=(",", ":"))
            self.data = {**data, "version": self.version}
            self.changed.notify_all()

    def page(self) -> str:
        with self.changed:
            data = self.data
        return page.html(data, live=True)

    def _used_files(self) -> list[Path]:
        """The spec and the files its `use` lines name, and theirs (as far as they parse)."""
        found, queue = [self.path], [self.path]
        while queue:
            path = queue.pop()
            try:
                spec = parse(sources.read(path).text, sources.display_path(path))
            except (ArchcError, RecursionError):
                continue
            for statement in spec.statements:
                if isinstance(statement, ast.Use):
                    try:
                        used = sources.find_use(statement.path, spec.source)
                    except ArchcError:
                        continue
                    if used not in found:
                        found.append(used)
                        queue.append(used)
        return found

    # -- watching --------------------------------------------------------------------------

    def poll(self) -> bool:
        """Rebuild if a watched file changed since the last build; True if it did."""
        if any(_stamp(path) != stamp for path, stamp in self._seen.items()):
            self.rebuild()
            return True
        return False

    def run(self) -> None:
        while not self.stopping.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 -- the server must outlive any one edit
                self._publish({**self.data, "error": f"archc view could not redraw: {exc}"})

    def stop(self) -> None:
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()


def _stamp(path: Path) -> tuple:
    try:
        info = os.stat(path)
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, watcher: Watcher, port: int):
        self.watcher = watcher
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the terminal is the user's
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        host = self.headers.get("Host", "")
        port = self.server.server_address[1]
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return self._send(404, b"not found\n", "text/plain; charset=utf-8")
        if path == "/":
            body = self.server.watcher.page().encode()
            return self._send(200, body, "text/html; charset=utf-8",
                              {"Content-Security-Policy": page.policy(live=True) +
                               "; frame-ancestors 'none'"})
        if path == "/events":
            return self._events()
        return self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _events(self):
        watcher = self.server.watcher
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while not watcher.stopping.is_set():
                with watcher.changed:
                    if watcher.version == sent:
                        watcher.changed.wait(KEEPALIVE_SECONDS)
                    version, payload = watcher.version, watcher.payload
                if version != sent:
                    self.wfile.write(f"event: state\nid: {version}\ndata: {payload}\n\n".encode())
                    sent = version
                else:
                    self.wfile.write(b": still here\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


def serve(watcher: Watcher, port: int, open_browser: bool, out) -> int:
    """Serve until Ctrl-C; 0 when stopped so."""
    try:
        server = Server(watcher, port)
    except OSError as exc:
        from ..errors import UsageError

        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                         hint="pick another port with --port N, or --port 0 for any free one"
                         ) from None
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the server even where it was started with SIGINT ignored (a
        # background job of a script).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=watcher.run, name="archc-watch", daemon=True)
    thread.start()
    print(f"serving {watcher.path.name} at {server.url}  (Ctrl-C stops)", file=out, flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.1, webbrowser.open, (server.url,)).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        server.server_close()
    print("stopped", file=out, flush=True)
    return 0
