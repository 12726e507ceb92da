"""The in-browser model demos (docs/_ext/demos.py, docs/_static/demos/demos.js) in headless Chromium.

The quick-mode site is served on 127.0.0.1 (``test_browser``'s fixtures; every other host is
unresolvable) and driven like a reader would: strokes drawn with DevTools mouse events on
the desktop and touch events on the phone, a point dragged over the VAE's code map, the
DCGAN's "New samples" button clicked. The models are the ones this build trained and
exported; inference is onnxruntime-web's, in the page.

Screenshots land in ``<site>/_screenshots/demo-*.png``.
"""

from __future__ import annotations

import json
import math
from base64 import b64decode
import time
from pathlib import Path
from typing import Any

import pytest

from test_browser import CHROMIUM, DESKTOP, MOBILE, Browser, browser, served_site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; make test does it as root)"),
]

VIEWPORTS = {"desktop": DESKTOP, "mobile": MOBILE}
READY_TIMEOUT = 90.0  # onnxruntime-web's 14 MB of WebAssembly, compiled on a busy machine


def _demo(example: str) -> str:
    """The selector of a demo's container, by the example whose export it loads."""
    return f'.mlcheatsheet-demo[data-demo$="_demos/{example}/demo.json"]'


def _wait(browser: Browser, expression: str, what: str, timeout: float = 30.0) -> Any:
    """Poll ``expression`` in the page until it is truthy; fail with ``what`` when it is not in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _open_demo(browser: Browser, url: str, example: str, viewport: dict[str, Any]) -> int:
    """Open ``url`` at ``viewport``, bring the demo on screen and wait until its models are loaded.

    Returns the index of the first event of this page load, for ``browser.problems``.
    """
    since = len(browser.events)
    browser.open(url, viewport)
    selector = json.dumps(_demo(example))
    found = browser.evaluate(f"""(() => {{
        const root = document.querySelector({selector});
        if (!root) return null;
        root.scrollIntoView({{block: 'start', behavior: 'instant'}});
        return true;
    }})()""")
    if not found:  # say what the page shows instead (e.g. "This build did not run the example ...")
        missing = browser.evaluate("[...document.querySelectorAll('.mlcheatsheet-demo-missing')].map(p => p.innerText)")
        raise AssertionError(f"{url} has no demo of {example}: {missing or 'no demo container'}")
    state = _wait(browser, f"""(() => {{
        const root = document.querySelector({selector});
        return ['ready', 'failed'].includes(root.dataset.state) && !root.dataset.busy ? root.dataset.state : null;
    }})()""", f"the {example} demo to load its models", READY_TIMEOUT)
    if state == "failed":
        raise AssertionError(browser.evaluate(f"document.querySelector({selector}).innerText"))
    return since


def _box(browser: Browser, selector: str) -> dict[str, float]:
    """The viewport rectangle of the first element matching ``selector``, scrolled into view."""
    box = browser.evaluate(f"""(() => {{
        const el = document.querySelector({json.dumps(selector)});
        el.scrollIntoView({{block: 'center', behavior: 'instant'}});
        const r = el.getBoundingClientRect();
        return {{x: r.x, y: r.y, width: r.width, height: r.height}};
    }})()""")
    assert box and box["width"] > 0, f"{selector} is not visible"
    return box


def _stroke(browser: Browser, box: dict[str, float], points: list[tuple[float, float]], *, touch: bool) -> None:
    """Draw through ``points`` (fractions of ``box``) with one finger or the left mouse button."""
    at = [{"x": box["x"] + u * box["width"], "y": box["y"] + v * box["height"]} for u, v in points]
    if touch:
        browser.call("Input.dispatchTouchEvent", type="touchStart", touchPoints=[at[0]])
        for point in at[1:]:
            browser.call("Input.dispatchTouchEvent", type="touchMove", touchPoints=[point])
        browser.call("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        return
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", **at[0])
    browser.call("Input.dispatchMouseEvent", type="mousePressed", button="left", buttons=1, clickCount=1, **at[0])
    for point in at[1:]:
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", button="left", buttons=1, **point)
    browser.call("Input.dispatchMouseEvent", type="mouseReleased", button="left", buttons=0, clickCount=1, **at[-1])


def _one() -> list[tuple[float, float]]:
    """A "1": one vertical stroke."""
    return [(0.5, 0.15 + 0.7 * k / 20) for k in range(21)]


def _zero() -> list[tuple[float, float]]:
    """A "0": an upright ellipse, closed."""
    return [(0.5 + 0.22 * math.sin(2 * math.pi * k / 40), 0.5 - 0.33 * math.cos(2 * math.pi * k / 40)) for k in range(42)]


def _prediction(browser: Browser, example: str) -> dict[str, Any]:
    """The classifier's answer once it has caught up with the drawing: the top class from the DOM."""
    selector = json.dumps(_demo(example))
    return _wait(browser, f"""(() => {{
        const root = document.querySelector({selector});
        if (root.dataset.busy || !root.dataset.top) return null;
        const top = root.querySelector('.mlcheatsheet-demo-bar.is-top .mlcheatsheet-demo-label');
        return {{top: top && top.textContent, text: root.querySelector('[aria-live]').textContent,
                 probabilities: root.dataset.probabilities}};
    }})()""", f"the {example} demo's prediction")


def _canvas(browser: Browser, selector: str) -> str:
    """The pixels of a canvas, as a data URL (equal strings: equal images)."""
    return browser.evaluate(f"document.querySelector({json.dumps(selector)}).toDataURL()")


def _warnings(browser: Browser, since: int) -> list[str]:
    """Console warnings since event ``since`` (``browser.problems`` reports the errors)."""
    found = []
    for event in browser.events[since:]:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") == "warning":
            found.append("console.warn: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "warning":
            found.append(f"log warning: {params['entry']['text']}")
    return found


def _clean(browser: Browser, since: int, site: str) -> None:
    """No console error or warning, exception or failed load since ``since``; nothing fetched from
    elsewhere; the demo's files (onnxruntime-web, the exports) requested only after the load event."""
    assert not browser.problems(since), browser.problems(since)
    assert not _warnings(browser, since), _warnings(browser, since)
    offsite = [u for u in browser.requested_urls(since) if not u.startswith((site, "data:", "blob:"))]
    assert not offsite, f"reached outside the site: {offsite}"
    events = browser.events[since:]
    loaded = next(e["params"]["timestamp"] for e in events if e.get("method") == "Page.loadEventFired")
    early = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"
             and ("/_static/ort/" in e["params"]["request"]["url"] or "/_demos/" in e["params"]["request"]["url"])
             and e["params"]["timestamp"] < loaded]
    assert not early, f"demo files fetched before the page finished loading: {early}"


def _fits(browser: Browser, viewport: dict[str, Any]) -> None:
    width = browser.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width} px wide at {viewport['width']} px"


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_cnn_demo_reads_a_drawn_one_and_zero(browser: Browser, served_site: str, quick_site: Path,  # noqa: F811
                                            viewport_name: str) -> None:
    viewport = VIEWPORTS[viewport_name]
    touch = viewport["mobile"]
    if touch:
        browser.call("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=1)
    try:
        since = _open_demo(browser, served_site + "architectures/cnn.html", "cnn", viewport)
        pad = _demo("cnn") + " canvas.mlcheatsheet-demo-pad"
        seen = {}
        for digit, points in (("1", _one()), ("0", _zero())):
            browser.click(_demo("cnn") + " button")  # "Clear"
            _wait(browser, f"!document.querySelector({json.dumps(_demo('cnn'))}).dataset.top", "the pad to clear")
            _stroke(browser, _box(browser, pad), points, touch=touch)
            seen[digit] = _prediction(browser, "cnn")
            if digit == "1":
                _screenshot(browser, _demo("cnn"), quick_site / "_screenshots" / f"demo-cnn-{viewport_name}.png")
        for digit, answer in seen.items():
            assert answer["top"] == digit, f"drew a {digit}, the page's top class is {answer['top']} ({answer['text']}); " \
                                           f"probabilities of 0-9: {answer['probabilities']}"
        _fits(browser, viewport)
        _clean(browser, since, served_site)
    finally:
        if touch:
            browser.call("Emulation.setTouchEmulationEnabled", enabled=False)


def test_cnn_demo_draws_with_the_keyboard(browser: Browser, served_site: str) -> None:  # noqa: F811
    since = _open_demo(browser, served_site + "architectures/cnn.html", "cnn", DESKTOP)
    root = json.dumps(_demo("cnn"))
    browser.evaluate(f"document.querySelector({root} + ' canvas.mlcheatsheet-demo-pad').focus()")

    def key(name: str, code: int) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            browser.call("Input.dispatchKeyEvent", type=kind, key=name, code=name if name != " " else "Space",
                         windowsVirtualKeyCode=code)

    key("Escape", 27)
    for _ in range(6):
        key("ArrowUp", 38)
    key(" ", 32)  # pen down
    for _ in range(12):
        key("ArrowDown", 40)
    key(" ", 32)  # pen up
    answer = _prediction(browser, "cnn")
    assert answer["top"] in [str(k) for k in range(10)], answer
    assert browser.evaluate(f"getComputedStyle(document.querySelector({root} + ' .mlcheatsheet-demo-cursor')).display") == "block"
    key("Delete", 46)
    _wait(browser, f"!document.querySelector({root}).dataset.top", "Delete to clear the pad")
    assert not browser.problems(since) and not _warnings(browser, since), browser.problems(since) + _warnings(browser, since)


def _screenshot(browser: Browser, selector: str, path: Path) -> None:
    """A PNG of the demo ``selector`` alone (the whole page is too long to look at)."""
    box = browser.evaluate(f"""(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
        return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}}; }})()""")
    clip = {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"], "scale": 1}
    data = browser.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b64decode(data))


def _new_samples_differ(browser: Browser, root: str, button: str, label: str) -> None:
    """Clicking ``button`` redraws the first sample of the demo's grid with a different image."""
    first = root + " .mlcheatsheet-demo-grid canvas"
    before = _canvas(browser, first)
    count = browser.evaluate(f"document.querySelector({json.dumps(root)}).dataset.samples")
    browser.click(button)
    _wait(browser, f"document.querySelector({json.dumps(root)}).dataset.samples !== {json.dumps(count)}", "new samples")
    assert _canvas(browser, first) != before, f"{label} drew the same image again"


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_vae_demo_decodes_where_the_point_is(browser: Browser, served_site: str, quick_site: Path,  # noqa: F811
                                            viewport_name: str) -> None:
    viewport = VIEWPORTS[viewport_name]
    since = _open_demo(browser, served_site + "architectures/vae.html", "vae", viewport)
    root = _demo("vae")
    decoded = root + " canvas.is-large"
    before, code = _canvas(browser, decoded), browser.evaluate(f"document.querySelector({json.dumps(root)}).dataset.code")
    _stroke(browser, _box(browser, root + " canvas.mlcheatsheet-demo-map"), [(0.5, 0.5), (0.7, 0.3), (0.85, 0.15)],
            touch=False)
    _wait(browser, f"""(() => {{ const r = document.querySelector({json.dumps(root)});
        return !r.dataset.busy && r.dataset.code !== {json.dumps(code)}; }})()""", "the point to move")
    assert _canvas(browser, decoded) != before, "the decoded image did not change when the point moved"

    _new_samples_differ(browser, root, root + " .mlcheatsheet-demo-section button", "Sample")
    _screenshot(browser, root, quick_site / "_screenshots" / f"demo-vae-{viewport_name}.png")
    _fits(browser, viewport)
    _clean(browser, since, served_site)


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_dcgan_demo_draws_new_samples(browser: Browser, served_site: str, quick_site: Path,  # noqa: F811
                                      viewport_name: str) -> None:
    viewport = VIEWPORTS[viewport_name]
    since = _open_demo(browser, served_site + "architectures/dcgan.html", "dcgan", viewport)
    root = _demo("dcgan")
    _new_samples_differ(browser, root, root + " button", "New samples")

    between = root + " canvas.is-large"
    mixed = _canvas(browser, between)
    browser.evaluate(f"""(() => {{ const s = document.querySelector({json.dumps(root)} + ' input[type=range]');
        s.value = 0; s.dispatchEvent(new Event('input')); }})()""")
    _wait(browser, f"!document.querySelector({json.dumps(root)}).dataset.busy", "the interpolation to update")
    assert _canvas(browser, between) != mixed, "moving the slider did not change the interpolated image"
    _screenshot(browser, root, quick_site / "_screenshots" / f"demo-dcgan-{viewport_name}.png")
    _fits(browser, viewport)
    _clean(browser, since, served_site)


def test_conditional_dcgan_demo_follows_the_class_selector(browser: Browser, served_site: str) -> None:  # noqa: F811
    since = _open_demo(browser, served_site + "architectures/dcgan.html", "conditional_dcgan", DESKTOP)
    root = json.dumps(_demo("conditional_dcgan"))
    first = _demo("conditional_dcgan") + " .mlcheatsheet-demo-grid canvas"
    before = _canvas(browser, first)
    count = browser.evaluate(f"document.querySelector({root}).dataset.samples")
    browser.evaluate(f"""(() => {{ const s = document.querySelector({root} + ' select');
        s.value = '7'; s.dispatchEvent(new Event('change')); }})()""")
    _wait(browser, f"document.querySelector({root}).dataset.samples !== {json.dumps(count)}", "samples of class 7")
    assert _canvas(browser, first) != before, "the same noise with another class gave the same image"
    assert "class 7" in browser.evaluate(f"document.querySelector({root} + ' [aria-live]').textContent")
    _clean(browser, since, served_site)


def test_autoencoder_demo_shows_the_four_images(browser: Browser, served_site: str) -> None:  # noqa: F811
    since = _open_demo(browser, served_site + "architectures/autoencoder.html", "autoencoder", DESKTOP)
    root = _demo("autoencoder")
    blank = _canvas(browser, root + " canvas.is-medium")
    _stroke(browser, _box(browser, root + " canvas.mlcheatsheet-demo-pad"), _zero(), touch=False)
    _wait(browser, f"""(() => {{ const r = document.querySelector({json.dumps(root)});
        return r.dataset.updates && !r.dataset.busy; }})()""", "the autoencoder demo to update")
    images = browser.evaluate(f"[...document.querySelectorAll({json.dumps(root + ' canvas.is-medium')})].map(c => c.toDataURL())")
    assert len(images) == 4 and blank not in images, "an image of the autoencoder demo stayed blank"
    assert len(set(images)) == 4, "two of the four images (input, reconstruction, noisy, denoised) are identical"
    _clean(browser, since, served_site)


def test_without_webassembly_a_demo_is_one_line_saying_so(browser: Browser, served_site: str) -> None:  # noqa: F811
    script = browser.call("Page.addScriptToEvaluateOnNewDocument", source="delete window.WebAssembly;")["identifier"]
    try:
        since = len(browser.events)
        browser.open(served_site + "architectures/cnn.html", DESKTOP)
        root = json.dumps(_demo("cnn"))
        browser.evaluate(f"document.querySelector({root}).scrollIntoView({{block: 'start', behavior: 'instant'}})")
        _wait(browser, f"document.querySelector({root}).dataset.state === 'failed'", "the demo to give up")
        text = browser.evaluate(f"document.querySelector({root}).innerText").strip()
        assert text == "The demo could not start: this browser does not support WebAssembly.", text
        assert not browser.problems(since), browser.problems(since)
    finally:
        browser.call("Page.removeScriptToEvaluateOnNewDocument", identifier=script)


def test_diffusion_demo_draws_every_solver_step(browser: Browser, served_site: str) -> None:  # noqa: F811
    since = _open_demo(browser, served_site + "architectures/diffusion.html", "diffusion", DESKTOP)
    root = json.dumps(_demo("diffusion"))
    first, status = _demo("diffusion") + " .mlcheatsheet-demo-grid canvas", f"document.querySelector({root} + ' [aria-live]').textContent"
    trained = int(browser.evaluate(f"document.querySelector({root} + ' select').value"))
    assert f"after {trained} Heun step" in browser.evaluate(status)  # the page starts with the example's own sampler
    denoised = _canvas(browser, first)
    browser.evaluate(f"""(() => {{ const r = document.querySelector({root}); window.shownSteps = [];
        new MutationObserver(() => window.shownSteps.push(r.dataset.step)).observe(r, {{attributeFilter: ['data-step']}});
        const s = r.querySelector('select'); s.value = '5'; s.dispatchEvent(new Event('change')); }})()""")
    _wait(browser, f"({status}).includes('after 5 Heun steps (9 network evaluations each)')", "five steps")
    assert browser.evaluate("window.shownSteps") == ["1", "2", "3", "4", "5"]  # each step drawn, in order
    assert _canvas(browser, first) != denoised, "five steps from the same noise drew the same image"
    _new_samples_differ(browser, _demo("diffusion"), _demo("diffusion") + " button", "New samples")
    _clean(browser, since, served_site)
