"""The headless-Chromium client for browser tests (tests/helpers/chromium.py), on small pages in tmp_path."""

from __future__ import annotations

import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.chromium import Page, chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no Chromium: set CURATE_CHROMIUM or install chromium")

PAGE = """<!doctype html>
<html><head><style>body { margin: 0 } #tall { width: 300px; height: 1500px; background: linear-gradient(red, blue) }</style></head>
<body>
<h1 id="title">hello</h1>
<svg id="chart" width="120" height="80" xmlns="http://www.w3.org/2000/svg"><rect width="120" height="80" fill="green"/></svg>
<button id="go" onclick="document.getElementById('title').textContent = 'clicked'">go</button>
<div id="tall"></div>
<script>window.answer = 6 * 7;</script>
</body></html>
"""


def write_page(tmp_path: Path, html: str, name: str = "page.html") -> str:
    path = tmp_path / name
    path.write_text(html)
    return path.as_uri()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """A server on loopback that counts hits: proof that the page fetched nothing (loopback bypasses proxies)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_inline_script_and_svg(tmp_path: Path) -> None:
    url = write_page(tmp_path, PAGE)
    with Page(url) as page:
        assert page.requests == [url]
        assert page.console_errors == []
        assert page.evaluate("window.answer") == 42
        assert page.evaluate("Promise.resolve([1, 'a', null])") == [1, "a", None]
        assert page.evaluate("undefined") is None
        assert page.evaluate("(() => { const r = document.querySelector('#chart').getBoundingClientRect(); return [r.width, r.height]; })()") == [120, 80]


def test_console_error_is_recorded(tmp_path: Path) -> None:
    url = write_page(tmp_path, '<!doctype html><script>console.log("fine"); console.error("x"); console.warn("careful", 3)</script>')
    with Page(url) as page:
        assert page.console_errors == [f"console.error: x ({url}:1)", f"console.warning: careful 3 ({url}:1)"]


def test_uncaught_exceptions_are_recorded(tmp_path: Path) -> None:
    url = write_page(tmp_path, '<!doctype html>\n<script>throw new Error("boom")</script>\n<script>Promise.reject(new Error("nope"))</script>')
    with Page(url) as page:
        assert page.console_errors == [f"exception: Uncaught Error: boom ({url}:2)", f"exception: Uncaught (in promise) Error: nope ({url}:3)"]


def test_external_resources_are_requested_but_not_fetched(tmp_path: Path, local_server: tuple[str, list[str]]) -> None:
    base, hits = local_server
    url = write_page(tmp_path, f'<!doctype html><img src="http://example.com/a.png"><img src="{base}/b.png">')
    with Page(url) as page:
        assert page.requests == [url, "http://example.com/a.png", f"{base}/b.png"]
        assert page.evaluate("[...document.images].map(image => image.naturalWidth)") == [0, 0]
        assert len(page.console_errors) == 2 and all("net::ERR_INTERNET_DISCONNECTED" in line for line in page.console_errors)
    assert hits == []


def test_click_and_javascript_errors(tmp_path: Path) -> None:
    with Page(write_page(tmp_path, PAGE)) as page:
        page.click("#go")
        assert page.evaluate("document.getElementById('title').textContent") == "clicked"
        with pytest.raises(RuntimeError, match="no element matches '#missing'"):
            page.click("#missing")
        with pytest.raises(RuntimeError, match="ReferenceError: nothing is not defined"):
            page.evaluate("nothing + 1")
        with pytest.raises(RuntimeError, match="Error: rejected"):
            page.evaluate("Promise.reject(new Error('rejected'))")
        assert page.console_errors == []


def test_screenshots(tmp_path: Path) -> None:
    with Page(write_page(tmp_path, PAGE), width=800, height=600) as page:
        page.screenshot(tmp_path / "chart.png", selector="#chart")
        page.screenshot(tmp_path / "tall.png", selector="#tall")  # taller than the viewport: all of it
        page.screenshot(str(tmp_path / "viewport.png"))
        with pytest.raises(RuntimeError, match="no element matches"):
            page.screenshot(tmp_path / "none.png", selector="#missing")
    assert png_size(tmp_path / "chart.png") == (120, 80)
    assert png_size(tmp_path / "tall.png") == (300, 1500)
    assert png_size(tmp_path / "viewport.png") == (800, 600)


def test_failures_say_what_went_wrong(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="could not open .*missing.html: net::ERR_FILE_NOT_FOUND"):
        Page((tmp_path / "missing.html").as_uri())
    url = write_page(tmp_path, "<!doctype html><script>while (true) {}</script>")
    with pytest.raises(RuntimeError, match=r"timed out after 1 s waiting for the load event of .*page.html"):
        Page(url, timeout=1)
