"""The web page at `/` in a real browser: Debian's chromium, headless, driven by Playwright, against
the session's service (real redis-server, real worker, the tiny model).

Needs /usr/bin/chromium (`make test` installs it when it can: .ci/ensure-chromium) and the
`playwright` package (the test extra). `playwright install` is never needed: the system browser
is launched directly. A screenshot is saved under the test's tmp dir, and also into
$SALIENCY_SCREENSHOT_DIR when set (docs/web.png comes from there).
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.stack import RECON, Gate, Service, extra_api


CHROMIUM = os.environ.get("SALIENCY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
SCALE = 6  # the 32 px planted picture is shown 6x larger, so the page looks like a page
OPTIONS = '{"chains": 20, "grid": 4}'


def _missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return (f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` does it "
                "via .ci/ensure-chromium when root and online)")
    return None


# Decided before any fixture runs, so a skip does not first start the test stack.
needs_browser = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser, url: str):
    """A fresh tab on the page; yields it, then checks that no script error happened."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    p = context.new_page()
    script_errors: list[str] = []
    p.console_errors = []  # e.g. a request the API refused
    p.on("pageerror", lambda exc: script_errors.append(str(exc)))
    p.on("console", lambda m: p.console_errors.append(m.text) if m.type == "error" else None)
    p.goto(f"{url}/")
    yield p
    context.close()
    assert script_errors == []


@pytest.fixture
def page(browser, service: Service):
    yield from open_page(browser, service.url)


KEY = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def keyed_url(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second API process, with API keys on, beside the shared one (same Redis, queue, worker)."""
    env = {**service.env, "SALIENCY_AUTH": "on", "SALIENCY_API_KEYS": f"web:{KEY}"}
    with extra_api("keyed-api", env, tmp_path_factory.mktemp("keyed-api")) as url:
        yield url


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A planted-object picture (PNG, enlarged) and its class."""
    from saliency.data.planted import CLASSES, make_planted

    for seed in range(100):
        data = make_planted(1, size=32, seed=seed, distractor_rate=0.0)
        if data.masks[0].any():
            break
    pixels = (data.images[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
    img = Image.fromarray(pixels, "RGB").resize((32 * SCALE, 32 * SCALE), Image.NEAREST)
    path = tmp_path_factory.mktemp("browser") / "planted.png"
    img.save(path)
    return path, CLASSES[int(data.labels[0])]


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if out := os.environ.get("SALIENCY_SCREENSHOT_DIR"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(out) / name)
    return shot


@needs_browser
def test_upload_progress_and_result(page, service: Service, planted: tuple[Path, str], tmp_path: Path,
                                    gate: Gate) -> None:
    image, label = planted
    page.select_option("#model", "tiny")  # waits for GET /models to fill the list
    assert page.is_disabled("#reconstruct")  # the tiny model declares no generator
    page.set_input_files("#image", str(image))

    # The target list is the model's own top classes for this picture (POST /predict).
    expected = httpx.post(f"{service.url}/predict", data={"model": "tiny"},
                          files={"image": ("p.png", image.read_bytes(), "image/png")}).json()
    options = page.locator("#target option")
    options.nth(len(expected)).wait_for(state="attached")
    offered = options.all_inner_texts()[1:]
    assert [t.split(" (")[0] for t in offered] == [p["label"] for p in expected]
    assert expected[0]["label"] == label

    # The test's `gate` method holds the job (at 40% of the method's share of the work) until the
    # test releases it: the bar's progress is seen on any machine, however fast (the job waits on
    # the test, not on the clock).
    page.select_option("#method", "gate")
    page.click("#explain-form details summary")  # advanced options
    held = gate.params(progress=0.4)
    page.fill("#params", json.dumps(held))
    page.check("#metric-deletion")
    # Record every value the progress bar shows (the page polls GET /jobs/{id}).
    page.evaluate("""() => {
        window.progressSeen = [];
        const bar = document.getElementById('progress');
        new MutationObserver(() => window.progressSeen.push(bar.getAttribute('value')))
            .observe(bar, {attributes: true, attributeFilter: ['value']});
    }""")
    page.click("#submit")
    page.wait_for_function("(b => b.hasAttribute('value') && b.value > 0 && b.value < 1)"
                           "(document.getElementById('progress'))", timeout=90_000)
    gate.release(held)

    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    page.wait_for_function("document.getElementById('heatmap').naturalWidth > 0", timeout=10_000)
    assert page.evaluate("document.getElementById('heatmap').naturalWidth") == 32 * SCALE
    assert page.evaluate("document.getElementById('original').naturalWidth") == 32 * SCALE

    seen = [float(v) for v in page.evaluate("window.progressSeen") if v is not None]
    assert any(0 < v < 1 for v in seen) and seen[-1] == 1.0, seen
    assert seen == sorted(seen), seen  # it only moves forward

    top5 = page.locator("#top5 li").all_inner_texts()
    assert [t.split(" (class")[0] for t in top5] == [p["label"] for p in expected]
    assert page.locator("#metrics tbody tr").first.inner_text().startswith("deletion")

    # The slider changes the heatmap's opacity live, in the browser.
    page.locator("#opacity").evaluate("(el) => { el.value = '0.65'; el.dispatchEvent(new Event('input')); }")
    assert page.evaluate("document.getElementById('heatmap').style.opacity") == "0.65"
    assert page.inner_text("#opacity-value") == "65%"

    links = page.locator("#downloads a")
    assert links.count() == 4
    for i in range(3):  # the artifacts answer where the links point
        href = links.nth(i).get_attribute("href")
        assert httpx.get(f"{service.url}{href}").status_code == 200, href
    assert page.locator("#error").is_hidden()
    assert page.console_errors == []  # no request failed
    assert save_screenshot(page, tmp_path, "web.png").stat().st_size > 0


def drop_file(page, selector: str, path: Path) -> None:
    """Drop a file on an element as a user dragging it from the desktop would."""
    page.locator(selector).evaluate("""(zone, [b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, {type: 'image/png'}));
        for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(path.read_bytes()).decode(), path.name])


@needs_browser
def test_api_errors_are_shown_with_the_field(page, planted: tuple[Path, str]) -> None:
    image, label = planted
    page.select_option("#model", "tiny")
    drop_file(page, "#drop-zone", image)  # dropped, not chosen: the same as the file input
    assert page.evaluate("document.getElementById('image').files[0].name") == image.name
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    page.locator("#target option").nth(1).wait_for(state="attached")
    assert page.locator("#target option").nth(1).inner_text().startswith(label)
    page.click("#explain-form details summary")
    page.fill("#queries", "0")  # the API refuses it: 422 naming params.queries
    page.click("#submit")
    error = page.locator("#error")
    error.wait_for(state="visible", timeout=15_000)
    assert "params.queries" in error.inner_text()
    assert page.get_attribute("#queries", "aria-invalid") == "true"
    assert page.is_enabled("#submit")  # ready for another try


def test_the_page_needs_no_build_and_no_network() -> None:
    """Every file the page loads is in the package, and none comes from another origin."""
    static = Path(__file__).resolve().parents[2] / "app" / "static"
    html = (static / "index.html").read_text()
    for name in ("app.js", "style.css"):
        assert f'/static/{name}' in html and (static / name).exists()
    scripts = sorted(static.glob("*.js"))
    for script in scripts:  # modules import each other by relative path only
        for imported in re.findall(r'from "([^"]+)"', script.read_text()):
            assert imported.startswith("./") and (static / imported).exists(), (script.name, imported)
    for text in [html, (static / "style.css").read_text()] + [s.read_text() for s in scripts]:
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    for img in re.findall(r"<img [^>]*>", html):
        assert "alt=" in img, img


@needs_browser
def test_with_api_keys_the_page_asks_for_one_and_sends_it(browser, keyed_url: str,
                                                          planted: tuple[Path, str]) -> None:
    image, label = planted
    for page in open_page(browser, keyed_url):  # the page itself is served without a key
        error = page.locator("#error")
        error.wait_for(state="visible", timeout=15_000)  # GET /models answered 401
        assert "API key" in error.inner_text()
        assert page.locator("#key-box").evaluate("(d) => d.open")
        page.fill("#api-key", KEY)
        page.click("#key-apply")
        page.select_option("#model", "tiny")
        assert error.is_hidden()
        page.set_input_files("#image", str(image))
        page.locator("#target option").nth(1).wait_for(state="attached")  # POST /predict with the key
        assert page.locator("#target option").nth(1).inner_text().startswith(label)
        page.click("#explain-form details summary")
        page.fill("#queries", "100")
        page.fill("#params", OPTIONS)
        page.click("#submit")
        page.wait_for_function("document.getElementById('heatmap').naturalWidth > 0", timeout=90_000)
        # An <a href> cannot carry the key: the page fetches the file with it and saves a blob.
        with page.expect_download() as download:
            page.click("#downloads a >> nth=0")
        saved = Path(download.value.path()).read_bytes()
        assert saved.startswith(b"\x93NUMPY")
        assert download.value.suggested_filename.endswith("-saliency.npy")
        # Only the first GET /models (before the key was given) was refused.
        assert [m for m in page.console_errors if "status of 401" not in m] == []


@needs_browser
def test_reconstructions_gallery(gen_model: str, page, planted: tuple[Path, str], tmp_path: Path) -> None:
    """A model with a generator (tests/support/stack.py's untrained tiny DCGAN):
    the checkbox is enabled, and the grid and each variation are shown after the map."""
    image, _ = planted
    page.reload()  # the models list as it is now that gen_model declared `tiny_gen`
    page.select_option("#model", gen_model)
    assert page.is_enabled("#reconstruct")
    page.set_input_files("#image", str(image))
    page.check("#reconstruct")
    page.click("#explain-form details summary")
    page.fill("#queries", "100")
    page.fill("#params", OPTIONS)
    page.fill("#reconstruct-params", json.dumps(RECON))
    page.click("#submit")
    page.wait_for_function("document.getElementById('recon-grid').naturalWidth > 0", timeout=120_000)
    pictures = page.locator("#recon-gallery img")
    assert pictures.count() == RECON["variations"]
    page.wait_for_function("[...document.querySelectorAll('#recon-gallery img')].every(i => i.naturalWidth > 0)",
                           timeout=10_000)
    assert page.inner_text("#recon-text").startswith("Acceptance")
    assert page.locator("#recon-gallery li.held, #recon-gallery li.changed").count() == RECON["variations"]
    assert page.locator("#error").is_hidden()
    save_screenshot(page, tmp_path, "web-reconstructions.png")
