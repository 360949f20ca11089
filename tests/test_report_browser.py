"""The HTML report in a real browser: headless Chromium (Debian's), driven by Playwright.

The page must render its charts without loading anything: every request the browser makes is
recorded, and the only one allowed is the file itself. A console error (a Content-Security-
Policy violation, a broken SVG) fails the test. Skipped when Chromium or Playwright is missing
locally; a failure in CI (``CI=true``), where both are installed.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from conftest import MakeWs
from pds_network import in_ci
from report_fixture import AT, SPRING_NAME, build

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = Path(os.environ.get("CMOPS_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]
SCREENSHOT_COPY = Path("/tmp/report-screenshot.png")


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"the browser test needs Chromium and Playwright in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh Chromium profile in ``tmp_path`` (Playwright takes it as ``user_data_dir``: it
    refuses ``--user-data-dir`` among the arguments)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; never 'playwright install')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": 1200, "height": 900})
        except Error as exc:
            _unavailable(f"chromium did not start: {exc.message.splitlines()[0]}")
        try:
            yield context
        finally:
            context.close()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_html_report_renders_offline_with_charts(make_ws: MakeWs, tmp_path: Path,
                                                 browser: BrowserContext) -> None:
    ws = build(make_ws("ws"))
    report = tmp_path / "report.html"
    outcome = ws.cli("report", "--format", "html", "--out", str(report), "--at", AT)
    assert outcome.code == 0, outcome.output
    url = report.as_uri()

    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(url, wait_until="load")

    assert problems == []
    assert requests == [url]
    assert page.title() == f"Campaign report: Winter launch, {SPRING_NAME}"
    # The hostile campaign name is text on the page, not a script that ran.
    assert page.locator("h2").all_inner_texts() == ["Winter launch", SPRING_NAME]
    assert page.evaluate("document.scripts.length") == 0
    # Two pygal charts for the winter campaign (the spring one has no metrics yet).
    assert page.locator("svg.pygal-chart").count() == 2
    titles = [t.strip() for t in page.locator("svg.pygal-chart > g > text.title, svg.pygal-chart text.title")
              .all_text_contents()]
    assert "Cumulative engagements" in titles
    assert "Engagements per published post" in titles
    box = page.locator("svg.pygal-chart").first.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100
    assert page.get_by_text("No metrics yet: no snapshot covers this campaign's posts").count() == 1

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    width, height = _png_size(data)
    assert width >= 1000 and height > 1500, (width, height)
    assert len(data) > 50_000
    SCREENSHOT_COPY.write_bytes(data)
    assert requests == [url], "nothing after load may fetch anything either"
