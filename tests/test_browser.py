"""The built site in a real browser: headless Chromium, driven over the DevTools protocol.

The quick-mode site (built once per session, see ``conftest.quick_site``) is served on
127.0.0.1 and opened in Debian's Chromium. Chromium is driven through
``--remote-debugging-pipe``: DevTools messages over two file descriptors, so the test
needs no driver binary and no Python package beyond the standard library. Every host but
127.0.0.1 is unresolvable, so a page that reached for a CDN would fail here.

Screenshots land in ``<site>/_screenshots/``. Skipped, with the reason, when Chromium is
not installed (``make test`` installs it when it runs as root).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; make test does it as root)"),
]

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
MOBILE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
TIMEOUT = 30.0


class Browser:
    """Headless Chromium and one page, driven with DevTools messages over a pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: DevTools reads fd 3, writes fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire_pipes, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        box = self._replies.get(message["id"])
                    if box is not None:
                        box.put(message)
                else:
                    self.events.append(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and wait for its reply."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[ident] = box
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = box.get(timeout=TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} within {TIMEOUT:.0f} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (awaiting a promise) and return its value."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, viewport: dict[str, Any]) -> None:
        """Load ``url`` at a viewport size and wait until its images and math are ready."""
        self.call("Emulation.setDeviceMetricsOverride", **viewport)
        start = len(self.events)
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events[start:]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading")
            time.sleep(0.05)
        self.evaluate("""(async () => {
            for (const img of document.images) img.loading = 'eager';
            await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
            if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
            await document.fonts.ready;
        })()""")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first visible element matching ``selector``."""
        box = self.evaluate(f"""(() => {{
            const el = [...document.querySelectorAll({json.dumps(selector)})].find(e => e.offsetParent !== null);
            if (!el) return null;
            el.scrollIntoView({{block: 'center', behavior: 'instant'}});
            const r = el.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
        }})()""")
        assert box, f"no visible element matches {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, button="left", clickCount=1, **box)

    def screenshot(self, path: Path, *, max_height: int = 8000) -> None:
        """Save a PNG of the whole page (up to ``max_height`` CSS pixels)."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b64decode(data))

    def problems(self, since: int = 0) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported since event ``since``."""
        found = []
        for event in self.events[since:]:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"failed load: {params.get('errorText')}")
        return found

    def requested_urls(self, since: int = 0) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events[since:] if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


@pytest.fixture(scope="module")
def served_site(quick_site: Path) -> Iterator[str]:
    """The quick site on http://127.0.0.1:<port>/ for the duration of this module."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(quick_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        instance = Browser(CHROMIUM, Path(profile))
        try:
            yield instance
        finally:
            instance.close()


def _check_page(browser: Browser, url: str) -> dict[str, Any]:
    since = len(browser.events)
    browser.open(url, DESKTOP)
    state = browser.evaluate("""({
        images: document.images.length,
        broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
        math: document.querySelectorAll('mjx-container').length,
        title: document.title,
    })""")
    assert not state["broken"], f"{url}: images that did not load: {state['broken']}"
    assert not browser.problems(since), f"{url}: {browser.problems(since)}"
    offsite = [u for u in browser.requested_urls(since) if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    assert not offsite, f"{url} reached outside the site: {offsite}"
    return state


def _screenshots(browser: Browser, url: str, out: Path, name: str) -> None:
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        browser.open(url, viewport)
        browser.screenshot(out / f"{name}-{label}.png")


def test_landing_page_renders_cards_and_results(browser: Browser, served_site: str, quick_site: Path) -> None:
    state = _check_page(browser, served_site + "index.html")
    assert state["images"] >= 1, "the landing page shows no card image"
    cards = browser.evaluate("[...document.querySelectorAll('.cheatsheet-card')].map(c => c.innerText.split('\\n')[0])")
    pages = sorted(p.stem for p in (ROOT / "docs" / "architectures").glob("*.rst"))
    assert len(cards) == len(pages), f"cards {cards} for pages {pages}"
    rows = browser.evaluate("[...document.querySelectorAll('table.cheatsheet-results tbody tr')].map(r => r.innerText)")
    scripts = sorted((ROOT / "gallery").glob("plot_*.py"))
    assert len(rows) == len(scripts), f"results rows {rows} for examples {[s.name for s in scripts]}"
    assert all("%" in row or any(ch.isdigit() for ch in row) for row in rows)
    _screenshots(browser, served_site + "index.html", quick_site / "_screenshots", "index")


def test_architecture_page_renders_math_figures_and_shapes(browser: Browser, served_site: str, quick_site: Path) -> None:
    state = _check_page(browser, served_site + "architectures/mlp.html")
    assert state["math"] > 0, "MathJax rendered no formula (offline copy missing?)"
    figures = browser.evaluate("[...document.images].filter(i => i.src.includes('sphx_glr_plot_mlp_')).length")
    assert figures >= 1
    shape_rows = browser.evaluate("document.querySelectorAll('table.cheatsheet-shapes tbody tr').length")
    assert shape_rows >= 5
    _screenshots(browser, served_site + "architectures/mlp.html", quick_site / "_screenshots", "mlp")


def _top_of(browser: Browser, selector: str) -> float | None:
    """Where the first element matching ``selector`` starts, in CSS pixels from the top of the page."""
    return browser.evaluate(f"""(() => {{
        const el = document.querySelector({json.dumps(selector)});
        return el ? el.getBoundingClientRect().top + window.scrollY : null;
    }})()""")


def test_what_a_reader_meets_first_is_the_summary(browser: Browser, served_site: str) -> None:
    """At 1280 px the landing page's decision table and each architecture page's summary start on the first screen."""
    browser.open(served_site + "index.html", DESKTOP)
    top = _top_of(browser, "table.cheatsheet-decisions")
    assert top is not None and top < DESKTOP["height"], f"the decision table starts at {top} px"
    for page in sorted(p.stem for p in (ROOT / "docs" / "architectures").glob("*.rst")):
        browser.open(served_site + f"architectures/{page}.html", DESKTOP)
        top = _top_of(browser, ".cheatsheet-summary")
        assert top is not None and top < DESKTOP["height"] / 2, f"{page}: the summary starts at {top} px"


def test_gallery_page_loads_cleanly(browser: Browser, served_site: str) -> None:
    state = _check_page(browser, served_site + "auto_examples/plot_mlp.html")
    assert state["images"] >= 3
    text = browser.evaluate("document.body.innerText")
    assert "Device: cpu" in text and "source: embedded" in text and "Total running time" in text


def test_dark_mode_toggle_switches_theme(browser: Browser, served_site: str, quick_site: Path) -> None:
    browser.open(served_site + "index.html", DESKTOP)
    seen = [browser.evaluate("document.body.dataset.theme")]
    for _ in range(3):  # furo cycles auto → dark → light (or auto → light → dark)
        browser.click(".theme-toggle")
        seen.append(browser.evaluate("document.body.dataset.theme"))
        if seen[-1] == "dark":
            break
    assert "dark" in seen and len(set(seen)) >= 2, f"theme never became dark: {seen}"
    background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
    assert sum(channels) < 3 * 100, f"dark theme but background {background}"
    browser.screenshot(quick_site / "_screenshots" / "index-desktop-dark.png")
    browser.evaluate("localStorage.removeItem('theme')")


def _every_page() -> list[str]:
    """The landing page, every architecture page, the gallery index and every gallery page."""
    architectures = sorted((ROOT / "docs" / "architectures").glob("*.rst"))
    examples = sorted((ROOT / "gallery").glob("plot_*.py"))
    return ["index.html", *(f"architectures/{p.stem}.html" for p in architectures),
            "auto_examples/index.html", *(f"auto_examples/{p.stem}.html" for p in examples)]


# What sticks out of a 390 px page, and which images did not load. An element inside a
# container that scrolls or clips sideways (a wide table in furo's .table-wrapper, a code
# block) is allowed to be wider: the reader scrolls that container, not the page. But the
# column itself must not slide: furo's content area scrolls sideways when anything in it
# is too wide, so the article and its ancestors must not be scrollable. Math wider than its
# box must scroll with a visible cue (the edge shadow, a background image), not be cut off;
# a figure is as wide as the column (or its own width, when narrower).
_PHONE_STATE = """(() => {
    const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    const clipped = el => { for (let p = el.parentElement; p; p = p.parentElement) {
        if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
    const wide = [...document.body.querySelectorAll('*')]
        .filter(el => el.getBoundingClientRect().right > innerWidth + 1 && !clipped(el))
        .slice(0, 5).map(el => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'));
    const article = document.querySelector('article');
    const slides = [];
    for (let el = article; el; el = el.parentElement)
        if (scrolls(el) && el.scrollWidth > el.clientWidth + 1) slides.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} by ${el.scrollWidth - el.clientWidth} px`);
    const column = article.getBoundingClientRect(), padding = getComputedStyle(article);
    const columnWidth = column.width - parseFloat(padding.paddingLeft) - parseFloat(padding.paddingRight);
    const inScroller = el => { for (let p = el.parentElement; p && p !== article; p = p.parentElement) if (scrolls(p)) return true; return false; };
    const cutMath = [...document.querySelectorAll('div.math, mjx-container:not([display="true"])')].filter(el => !inScroller(el))
        .filter(el => scrolls(el) ? el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).backgroundImage === 'none'
                                  : el.getBoundingClientRect().right > column.right + 1)
        .map(el => el.textContent.slice(0, 40));
    const figures = [...document.querySelectorAll('a.cheatsheet-zoom img')]
        .map(img => ({src: img.src.split('/').pop(), shown: img.getBoundingClientRect().width, natural: img.naturalWidth}))
        .filter(f => f.shown > columnWidth + 1 || (f.natural >= columnWidth && f.shown < columnWidth - 2))
        .map(f => `${f.src}: ${Math.round(f.shown)} px in a ${Math.round(columnWidth)} px column`);
    return {
        width: document.documentElement.scrollWidth, viewport: innerWidth, wide, slides, cutMath, figures,
        broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
        background: getComputedStyle(document.body).backgroundColor,
    };
})()"""


def _brightness(css_colour: str) -> int:
    """The sum of the red, green and blue channels of ``rgb(...)``: under 300 is a dark background."""
    return sum(int(c) for c in css_colour[css_colour.index("(") + 1:css_colour.index(")")].split(",")[:3])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_is_wider_than_a_phone(browser: Browser, served_site: str, quick_site: Path, scheme: str) -> None:
    # furo's default theme ("auto") follows the system's colour scheme, emulated here.
    browser.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
    try:
        problems = []
        for page in _every_page():
            browser.open(served_site + page, MOBILE)
            state = browser.evaluate(_PHONE_STATE)
            if state["width"] > MOBILE["width"] or state["viewport"] > MOBILE["width"]:
                problems.append(f"{page} is {state['width']} px wide at {MOBILE['width']} px: {state['wide']}")
            if state["slides"]:
                problems.append(f"{page}: the column slides sideways at {MOBILE['width']} px: {state['slides']}")
            if state["cutMath"]:
                problems.append(f"{page}: math cut off, or scrolling without a cue: {state['cutMath'][:5]}")
            if state["figures"]:
                problems.append(f"{page}: figures not as wide as the column: {state['figures'][:5]}")
            if state["broken"]:
                problems.append(f"{page}: images that did not load: {state['broken']}")
            if (_brightness(state["background"]) < 300) != (scheme == "dark"):
                problems.append(f"{page}: {scheme} scheme but background {state['background']}")
            if page in ("index.html", "auto_examples/plot_mlp.html"):
                browser.screenshot(quick_site / "_screenshots" / f"{page.replace('/', '-')[:-5]}-390-{scheme}.png")
        assert not problems, "\n".join(problems)
    finally:
        browser.call("Emulation.setEmulatedMedia", features=[])


def test_results_table_scrolls_in_its_own_box_on_a_phone(browser: Browser, served_site: str) -> None:
    browser.open(served_site + "index.html", MOBILE)
    box = browser.evaluate("""(() => {
        const wrapper = document.querySelector('table.cheatsheet-results').closest('.table-wrapper');
        // A cell squeezed to one word per line has as many lines as words (lines: distinct tops of its text).
        const lines = cell => { const tops = new Set(), walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let text = walk.nextNode(); text; text = walk.nextNode()) {
                const range = document.createRange(); range.selectNodeContents(text);
                for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
            }
            return tops.size; };
        const squeezed = [...document.querySelectorAll('table.cheatsheet-results tbody td')]
            .map(c => ({text: c.innerText.trim(), words: c.innerText.trim().split(/\\s+/).length, lines: lines(c)}))
            .filter(c => c.words >= 3 && c.lines >= c.words);
        return {overflow: getComputedStyle(wrapper).overflowX, inner: wrapper.scrollWidth, outer: wrapper.clientWidth, squeezed};
    })()""")
    assert box["overflow"] in {"auto", "scroll"} and box["inner"] > box["outer"], box  # it scrolls, the page does not
    assert not box["squeezed"], f"results cells broken one word per line: {box['squeezed'][:3]}"


def test_copy_button_skips_prompts_and_output(browser: Browser, served_site: str) -> None:
    browser.send("Browser.grantPermissions", permissions=["clipboardReadWrite", "clipboardSanitizedWrite"],
                 origin=served_site.rstrip("/"))
    browser.open(served_site + "api.html", DESKTOP)  # the API reference renders the docstrings' examples
    selector = "div.doctest button.copybtn, div.highlight-pycon button.copybtn"
    assert browser.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"), "no copy button on the doctest"
    shown = browser.evaluate(f"document.querySelector({json.dumps(selector)}).parentElement.innerText")
    browser.click(selector)
    copied, deadline = "", time.monotonic() + TIMEOUT
    while not copied and time.monotonic() < deadline:  # the copy is asynchronous: wait for it, however busy the machine
        copied = browser.evaluate("navigator.clipboard.readText()")
        time.sleep(0.05)
    commands = [line[4:] for line in shown.splitlines() if line.startswith((">>> ", "... "))]
    assert commands and copied.splitlines() == commands, (shown, copied)  # the commands, without prompts or output
