"""The interactive page in a real browser: Debian's Chromium, headless, driven by
Playwright (installed by .ci/run; no browser is downloaded).  Hover details, folding, the
table and the drawing pointing at each other, search, the keyboard, colour schemes, the
injection cases, several networks side by side, notebooks, and `archc view` following
edits — with the page's own Content-Security-Policy in force throughout."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc import view
from conftest import ROOT, SPECS, UPDATE_GOLDEN

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 10_000  # generous: these tests check behaviour, not speed (bench_view.py does)


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), \
        "Debian's chromium is missing: apt-get install chromium (.ci/run does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=FLAGS)
        yield chromium
        chromium.close()


class Watched:
    """A page with everything it says to the console, its errors and its requests."""

    def __init__(self, browser, **options):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900}, **options)
        self.console, self.errors, self.requests = [], [], []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready='1']", timeout=WAIT_MS)
        return self.page

    def quiet(self):
        assert self.errors == [] and self.console == []


@pytest.fixture
def watched(browser):
    made = []

    def open_page(**options):
        made.append(Watched(browser, **options))
        return made[-1]

    yield open_page
    for w in made:
        w.page.close()


def page_file(tmp_path: Path, *names: str, **options) -> str:
    path = tmp_path / ("_".join(names) + ".html")
    path.write_text(view.html([archc.analyze(SPECS / f"{n}.arch") for n in names], **options),
                    encoding="utf-8")
    return path.as_uri()


def details(page) -> str:
    return page.locator(".details").inner_text()


# -- one page --------------------------------------------------------------------------------


def test_the_page_asks_for_nothing_and_says_nothing(watched, tmp_path):
    url = page_file(tmp_path, "googlenet")
    w = watched()
    page = w.open(url)
    page.locator("[data-layer='inception_4a.branch2.2']").hover()
    page.click("button[data-action='fold-all']")
    page.click("button[data-action='unfold-all']")
    assert w.requests == [url]  # the page itself, and nothing else
    w.quiet()


def test_hovering_a_layer_shows_what_archc_knows(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "alexnet"))
    page.locator("[data-layer='conv1']").hover()
    text = details(page)
    # AlexNet's conv1: 96 kernels 11×11×3 with biases, a 55×55 output, stride 4.
    assert "conv1" in text and "conv11-96/4 pad=0" in text
    assert "96×55×55" in text
    assert f"{96 * (11 * 11 * 3 + 1):,}" in text and f"{96 * 55 * 55 * 363:,}" in text
    assert "11/4/0" in text
    assert "alexnet.arch:16" in text and "conv1: conv11-96/4 pad=0" in text
    assert "1.11 MiB at batch 1, fp32" in text  # 96×55×55 floats, kept for the ReLU and LRN
    assert "drawn with" in text and "relu" in text
    assert page.locator(".spec div.current").inner_text().startswith("conv1:")
    w.quiet()


def test_focusing_a_layer_shows_it_too(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "lenet5"))
    page.locator("[data-layer='C3']").focus()
    assert "C3" in details(page) and "16×10×10" in details(page)
    page.keyboard.press("Enter")
    assert page.locator("tr.selected").get_attribute("data-row") == "C3"
    w.quiet()


def test_groups_fold_into_one_box_and_back(watched, tmp_path):
    import torchvision

    w = watched()
    page = w.open(page_file(tmp_path, "resnet18"))
    boxes = page.locator("[data-layer]:visible").count()
    frame = page.locator("[data-group='layer2'] > path")
    frame.click(position={"x": 3, "y": 30})
    fold = page.locator(".fold[data-group='layer2']")
    assert fold.is_visible()
    params = sum(p.numel() for p in torchvision.models.resnet18().layer2.parameters())
    assert f"{params:,} params" in fold.text_content()
    assert "128×28×28" in fold.text_content()
    assert page.locator("[data-layer^='layer2.']:visible").count() == 0
    assert page.locator("[data-layer]:visible").count() < boxes
    fold.click()
    assert not fold.is_visible()
    assert page.locator("[data-layer]:visible").count() == boxes
    # Everything at once, then back.
    page.click("button[data-action='fold-all']")
    assert sorted(page.locator(".fold:visible").evaluate_all("e => e.map(x => x.dataset.group)")) \
        == ["layer1", "layer2", "layer3", "layer4"]
    page.click("button[data-action='unfold-all']")
    assert page.locator(".fold:visible").count() == 0
    assert page.locator("[data-layer]:visible").count() == boxes
    w.quiet()


def test_folding_by_keyboard(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "resnet18"))
    page.locator("[data-group='layer3']").focus()
    page.keyboard.press("Enter")
    fold = page.locator(".fold[data-group='layer3']")
    assert fold.is_visible() and fold.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    assert not fold.is_visible()
    w.quiet()


def test_collapse_starts_folded(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "resnet50", collapse=True))
    assert page.locator(".fold:visible").count() == 4  # the four stages
    page.locator(".fold[data-group='layer3']").click()
    inside = page.locator(".fold:visible").evaluate_all("e => e.map(x => x.dataset.group)")
    assert "layer3.1" in inside and "layer3" not in inside  # unfolded one level
    assert "×5" in page.locator(".fold[data-group='layer3.1']").text_content()
    w.quiet()


def test_table_and_drawing_find_each_other(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "vgg_d"))
    page.locator("tbody tr[data-row='classifier.6']").click()
    box = page.locator("[data-layer='classifier.6']")
    assert "selected" in box.get_attribute("class")
    assert box.is_visible() and _in_view(page, box, ".drawing")
    page.locator("[data-layer='features.0']").click()
    row = page.locator("tr.selected")
    assert row.get_attribute("data-row") == "features.0" and _in_view(page, row, ".table-wrap")
    # A layer inside a folded group: finding it unfolds what hides it.
    page = watched().open(page_file(tmp_path, "googlenet", collapse=True))
    page.locator("tbody tr[data-row='inception_4c.branch3.2']").click()
    assert page.locator("[data-layer='inception_4c.branch3.2']").is_visible()
    w.quiet()


def _in_view(page, locator, container: str) -> bool:
    return locator.evaluate(
        """(e, sel) => { const c = e.closest(sel).getBoundingClientRect();
                         const r = e.getBoundingClientRect();
                         return r.bottom > c.top && r.top < c.bottom &&
                                r.right > c.left && r.left < c.right; }""", container)


def test_the_table_sorts_by_params_and_macs(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "vgg_e"))
    net = archc.analyze(SPECS / "vgg_e.arch")
    page.click("th[data-key='params'] button")
    assert page.locator("th[data-key='params']").get_attribute("aria-sort") == "descending"
    first = page.locator("tbody tr").first.get_attribute("data-row")
    assert first == max(net.nodes, key=lambda n: n.info.params).name  # fc6: 25088×4096
    page.click("th[data-key='params'] button")
    assert page.locator("th[data-key='params']").get_attribute("aria-sort") == "ascending"
    page.click("th[data-key='macs'] button")
    names = page.locator("tbody tr").evaluate_all("e => e.map(x => x.dataset.row)")
    macs = [net.node(name).info.macs for name in names]
    assert macs == sorted(macs, reverse=True)
    page.click("th[data-key='index'] button")
    names = page.locator("tbody tr").evaluate_all("e => e.map(x => x.dataset.row)")
    assert names == [n.name for n in net.nodes if not (n.implicit and n.op.startswith("relu"))]
    w.quiet()


def test_search_finds_layers_by_name(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "resnet18"))
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.classList.contains('search')")
    page.keyboard.type("layer3.1")
    visible = page.locator("tbody tr:visible").evaluate_all("e => e.map(x => x.dataset.row)")
    assert visible and all("layer3.1" in name for name in visible)
    assert page.locator(".matches").inner_text() == f"{len(visible)} matches"
    assert page.locator("g.match").count() >= len(visible) - 1  # the join's ⊕ included
    page.keyboard.press("Enter")
    assert page.locator("tr.selected").get_attribute("data-row") == visible[0]
    page.keyboard.press("Escape")
    assert page.locator("tbody tr:visible").count() > len(visible)
    w.quiet()


def test_arrow_keys_walk_the_layers(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "lenet5"))
    page.locator("tbody tr[data-row='C1']").click()
    page.keyboard.press("ArrowDown")
    assert page.locator("tr.selected").get_attribute("data-row") == "S2"
    assert "selected" in page.locator("[data-layer='S2']").get_attribute("class")
    page.keyboard.press("k")
    assert page.locator("tr.selected").get_attribute("data-row") == "C1"
    w.quiet()


@pytest.mark.parametrize("scheme, dark", [("light", False), ("dark", True)])
def test_readable_in_both_colour_schemes(watched, tmp_path, scheme, dark):
    w = watched(color_scheme=scheme)
    page = w.open(page_file(tmp_path, "alexnet"))
    background = _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    text = _luminance(page.evaluate("getComputedStyle(document.body).color"))
    assert (background < 0.1 and text > 0.7) if dark else (background > 0.9 and text < 0.2)
    edge = page.locator("g.edge path").first.evaluate("e => getComputedStyle(e).stroke")
    assert abs(_luminance(edge) - background) > 0.3  # the edges show on the background
    label = page.locator("[data-layer='conv1'] text").first.evaluate(
        "e => getComputedStyle(e).fill")
    assert _luminance(label) < 0.2  # dark words on the pale box, in either scheme
    w.quiet()


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# -- hostile specs ----------------------------------------------------------------------------

HOSTILE = [
    "</script><script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "\"><svg onload=\"document.title='pwned'\">",
    "'-alert(1)-'", "<!--", "]]>", "&lt;b&gt;",
]


def test_nothing_in_a_spec_becomes_markup(watched, tmp_path):
    folder = tmp_path / "<"  # the file's path then reads `</script>.arch`
    folder.mkdir()
    lib = folder / "'><svg onload=alert(1)>.arch"
    lib.write_text("# " + " ".join(HOSTILE) + "\nblock unit(c) { conv3-c }\n")
    spec = folder / "script><img src=x onerror=alert(1)>\"><svg onload=alert(2)>.arch"
    comments = "\n".join(f"# {h}" for h in HOSTILE)
    spec.write_text(f"{comments}\nnetwork evil input 3x32x32\nuse \"{lib.name}\"\n"
                    f"first: unit(8)   # {HOSTILE[1]}\nFC-10  # {HOSTILE[0]}\n")
    out = tmp_path / "evil.html"
    out.write_text(view.html([archc.analyze(spec)]), encoding="utf-8")
    w = watched()
    page = w.open(out.as_uri())
    page.locator("[data-layer='first.0']").hover()
    page.locator("[data-layer='fc']").hover()
    assert page.title() != "pwned" and "pwned" not in page.title()
    assert page.locator("img").count() == 0
    assert page.locator("body svg svg, .details svg, .spec svg").count() == 0
    # The text is all there, as text: the header, the spec, its file names.
    assert HOSTILE[0] in page.locator(".network-head .title").inner_text()
    assert HOSTILE[1] in page.locator(".spec").inner_text()
    assert "</script><img src=x onerror=alert(1)>\"><svg onload=alert(2)>.arch" in \
        page.locator(".spec-file").inner_text()
    page.locator("[data-group='first'] > path").hover(position={"x": 3, "y": 20})
    assert "first" in details(page)
    w.quiet()


# -- several networks, notebooks ------------------------------------------------------------


def test_several_networks_side_by_side(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "vgg_a", "vgg_e"))
    assert page.locator("section.network").evaluate_all("e => e.map(x => x.dataset.network)") \
        == ["vgg_a", "vgg_e"]
    a, e = (page.locator(f"section[data-network='{n}']").bounding_box() for n in ("vgg_a", "vgg_e"))
    assert a["x"] + a["width"] <= e["x"] + 1 and abs(a["y"] - e["y"]) < 2  # beside, not below
    rows = page.locator(".compare tbody tr")
    # VGG's Table 2: 133 and 144 million parameters.
    assert "133M" in rows.nth(0).inner_text() and "144M" in rows.nth(1).inner_text()
    assert "×1.08" in rows.nth(1).inner_text()  # 143,667,240 / 132,863,336
    page.locator("section[data-network='vgg_e'] [data-layer='features.34']").hover()
    assert "features.34" in page.locator("section[data-network='vgg_e'] .details").inner_text()
    w.quiet()


def test_pages_in_one_notebook_do_not_touch(watched, tmp_path):
    cells = [archc.analyze(SPECS / "lenet5.arch"), archc.analyze(SPECS / "alexnet.arch")]
    notebook = tmp_path / "notebook.html"
    notebook.write_text("<!DOCTYPE html><body>" + "".join(
        f"<div class='cell'>{net._repr_html_()}</div>" for net in cells) + "</body>")
    w = watched()
    page = w.page
    page.goto(notebook.as_uri())
    frames = [page.frame_locator("iframe").nth(i) for i in range(2)]
    for frame in frames:
        frame.locator("html[data-ready='1']").wait_for(timeout=WAIT_MS)
    frames[0].locator("[data-layer='C1']").hover()
    frames[1].locator("[data-layer='conv1']").hover()
    assert "6×28×28" in frames[0].locator(".details").inner_text()
    assert "96×55×55" in frames[1].locator(".details").inner_text()
    frames[0].locator("button[data-action='fold-all']").click()
    assert frames[1].locator(".fold:visible").count() == 0
    assert w.errors == []


def test_screenshot(watched, tmp_path):
    w = watched()
    page = w.open(page_file(tmp_path, "googlenet"))
    page.locator("[data-group='inception_4e'] > path").click(position={"x": 3, "y": 30})
    page.locator("[data-layer='inception_3b.branch2.2']").hover()
    shot = page.screenshot()
    assert shot.startswith(b"\x89PNG") and struct.unpack(">II", shot[16:24]) == (1400, 900)
    assert len(shot) > 50_000  # a drawing, a table and text, not a blank page
    if UPDATE_GOLDEN:
        (ROOT / "docs" / "view.png").write_bytes(shot)
    w.quiet()


# -- archc view ---------------------------------------------------------------------------------


class Viewer:
    """`archc view` on a spec of the test's own, in a subprocess; stopped with Ctrl-C."""

    def __init__(self, spec: Path, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "archc", "view", str(spec), "--no-open", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=spec.parent)
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + self.proc.stderr.read()
        self.url, self.port = found.group(0), int(found.group(1))

    def get(self, path: str, host: str | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host or f"127.0.0.1:{self.port}")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, body

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
        return code, self.proc.stdout.read(), self.proc.stderr.read()


@pytest.fixture
def project(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "unit.arch").write_text("block unit(c) {\n    conv3-c; conv3-c\n}\n")
    spec = tmp_path / "net.arch"
    spec.write_text("# A network of the test's own\nnetwork small input 3x32x32\n"
                    "use \"lib/unit.arch\"\nstage1: unit(16)\nmaxpool\nstage2: unit(32)\n"
                    "FC-10\n")
    viewer = Viewer(spec)
    yield spec, viewer
    viewer.stop()


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _next_version(page, before: str):
    page.wait_for_selector(f"html:not([data-version='{before}'])", timeout=WAIT_MS)
    return page.evaluate("document.documentElement.dataset.version")


def test_view_follows_edits_and_keeps_folds(watched, project):
    spec, viewer = project
    w = watched()
    page = w.open(viewer.url)
    version = page.evaluate("document.documentElement.dataset.version")
    page.locator("[data-group='stage1']").focus()
    page.keyboard.press("Enter")
    assert page.locator(".fold[data-group='stage1']").is_visible()

    _edit(spec, "FC-10", "FC-100\nFC-10")
    version = _next_version(page, version)
    assert page.locator("[data-layer='fc2']").is_visible()
    assert page.locator(".fold[data-group='stage1']").is_visible()  # still folded

    _edit(spec, "FC-100", "FC-100 oops=1")  # broken: the error, and the last drawing
    version = _next_version(page, version)
    error = page.locator(".error")
    assert error.is_visible()
    text = page.locator(".error-text").inner_text()
    assert "net.arch:7:8: error:" in text and "FC-100 oops=1" in text
    assert "^~~~~~" in text and "hint:" in text
    assert page.locator("[data-layer='fc2']").count() == 1  # the last good drawing beside it
    assert page.locator(".networks").get_attribute("class").count("stale") == 1

    _edit(spec, "FC-100 oops=1", "FC-100")
    version = _next_version(page, version)
    assert not error.is_visible()

    _edit(spec.parent / "lib" / "unit.arch", "conv3-c; conv3-c", "conv3-c; conv3-c; conv1-c")
    version = _next_version(page, version)
    assert page.locator("[data-layer='stage2.2']").is_visible()
    assert page.locator(".fold[data-group='stage1']").is_visible()
    assert [r for r in w.requests if not r.endswith("/events")] == [viewer.url]
    w.quiet()


def test_view_serves_the_page_and_its_stream_and_nothing_else(project):
    spec, viewer = project
    status, body = viewer.get("/")
    assert status == 200 and body.startswith(b"<!DOCTYPE html>")
    for path in ["/net.arch", "/lib/unit.arch", "/lib/", "/../net.arch", "/%2e%2e/net.arch",
                 "/%2E%2E%2Fnet.arch", "/events/../net.arch", "//net.arch", "/index.html",
                 "/events/", "/..%2f..%2fetc%2fpasswd", "/favicon.ico", "/?/../net.arch#"]:
        status, body = viewer.get(path)
        if path.startswith("/?"):
            assert status == 200  # the page: a query names no file
            continue
        assert status == 404, path
        assert b"stage1" not in body and b"network small" not in body
    # A page elsewhere that had its name point at 127.0.0.1 cannot read it.
    assert viewer.get("/", host="attacker.example:80")[0] == 404
    assert _listens_on_loopback_only(viewer.port)


def _listens_on_loopback_only(port: int) -> bool:
    """From the kernel's own table of listening TCP sockets (Linux)."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                addresses.append(address)
    return addresses == ["0100007F"]  # 127.0.0.1, and nothing else


def test_view_stops_cleanly_on_ctrl_c(project):
    _, viewer = project
    viewer.get("/")
    code, out, err = viewer.stop()
    assert code == 0 and "stopped" in out
    assert "Traceback" not in err and err == ""


def test_view_shows_a_spec_broken_from_the_start(watched, tmp_path):
    spec = tmp_path / "broken.arch"
    spec.write_text("network broken input 3x32x32\nconv3-16 ×\n")
    viewer = Viewer(spec)
    try:
        w = watched()
        page = w.open(viewer.url)
        assert page.locator(".error").is_visible()
        assert "broken.arch:2:" in page.locator(".error-text").inner_text()
        version = page.evaluate("document.documentElement.dataset.version")
        spec.write_text("network broken input 3x32x32\nconv3-16 ×2\n")
        _next_version(page, version)
        assert not page.locator(".error").is_visible()
        assert page.locator("[data-layer='conv2']").is_visible()
        w.quiet()
    finally:
        viewer.stop()

