"""Drive the system's headless Chromium over the DevTools protocol (stdlib only): browser tests of the HTML
report and screenshots of it, with no selenium, playwright or websocket package to install.

    with Page(report.as_uri()) as page:
        assert page.requests == [report.as_uri()]     # self-contained: nothing else was asked for
        assert page.console_errors == []
        page.click("#tab-stages")
        assert page.evaluate("document.querySelector('#stages').hidden") is False
        page.screenshot(tmp_path / "stages.png", selector="#stages")

The browser speaks CDP over --remote-debugging-pipe: NUL-terminated JSON, read from its fd 3, written to its
fd 4. A reader thread records events as they come; the browser sends a page's events before the replies that
follow them, so `requests` and `console_errors` hold everything that happened before the last command (opening
the page ends with one, after the load event). What a page does later (timers, fetches) shows up once another
command has returned: `page.evaluate("0")`. data: URLs count as requests too.

Nothing can reach the network: a dead proxy, a resolver that finds no host, and offline network emulation, so
a report that links a CDN shows up in `requests` (and as a "Failed to load resource" error) instead of loading.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome")
CLOSE_TIMEOUT = 5.0
STARTUP_TIMEOUT = 30.0  # the least time the browser gets to start, whatever a Page's (per-page) timeout

FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    "--hide-scrollbars",  # screenshots of the same page do not depend on whether it overflows
    "--password-store=basic",  # no keyring lookup on Linux desktops
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
)

# Popen can hand the child its pipes only as stdin/stdout (without a preexec_fn, unsafe with threads):
# the shell moves them to fds 3 and 4, where --remote-debugging-pipe looks, and execs the browser in its place
LAUNCH = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'


def chromium_path() -> str | None:
    """$CURATE_CHROMIUM (a path or a name), else the first of NAMES on PATH; None when there is none."""
    configured = os.environ.get("CURATE_CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _remote(value: dict[str, Any]) -> str:
    """A console argument (a CDP RemoteObject) on one line, roughly as console.log prints it (an Error: its message)."""
    if "value" in value:
        text = value["value"] if isinstance(value["value"], str) else json.dumps(value["value"])
        return text.replace("\n", "\\n")
    text = str(value.get("unserializableValue") or value.get("description") or value.get("type", "?"))
    return text.splitlines()[0] if text.strip() else text


def _where(url: str | None, line: int | None) -> str:
    """` (url:line)` with the 1-based line, or nothing when the browser gave no place."""
    if not url:
        return ""
    return f" ({url}:{line + 1})" if line is not None else f" ({url})"


class Page:
    """One headless browser showing one page; a context manager that closes the browser on exit.

    `timeout` bounds each wait: for the load event, and for each command's reply."""

    def __init__(self, url: str, *, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self._dir = Path(tempfile.mkdtemp(prefix="curate-chromium-"))
        self._cond = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._loaded: set[str] = set()  # loaderIds whose document fired its load event
        self._last_id = 0
        self._eof = False
        self._session: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._to_browser = self._from_browser = -1
        try:
            self._start()
            self._open(width, height)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(self, expression: str) -> Any:
        """The expression's value (a promise is awaited), as JSON-able Python; a JS exception raises RuntimeError."""
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        details = result.get("exceptionDetails")
        if details:
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            raise RuntimeError(f"JavaScript error in {expression[:200]!r}: {text}")
        return result.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """Click the first element matching `selector` (as element.click() does: no pointer events before it)."""
        found = self.evaluate(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (el) el.click(); return !!el; }})()")
        if not found:
            raise RuntimeError(f"no element matches {selector!r} in {self.url}")

    def screenshot(self, path: str | Path, selector: str | None = None) -> None:
        """Write a PNG of the viewport or, with `selector`, of the whole of the first matching element (all of its
        height, even beyond the viewport), after scrolling it into view so lazy content has been laid out."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = self.evaluate(
                f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return null;"
                " el.scrollIntoView({block: 'start', inline: 'start'}); const r = el.getBoundingClientRect();"
                " return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; })()"
            )
            if box is None:
                raise RuntimeError(f"no element matches {selector!r} in {self.url}")
            if box["width"] <= 0 or box["height"] <= 0:
                raise RuntimeError(f"{selector!r} has no area ({box['width']}x{box['height']}): hidden?")
            params.update(clip={**box, "scale": 1}, captureBeyondViewport=True)
        data = self._send("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop the browser (SIGTERM, SIGKILL after CLOSE_TIMEOUT) and its helpers; remove the temporary profile."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(CLOSE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            try:  # the zygotes and renderers leave with the browser; one left behind would hold fd 4 open
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.join(CLOSE_TIMEOUT)
        if self._to_browser >= 0:
            os.close(self._to_browser)
            self._to_browser = -1
        if self._from_browser >= 0 and not (reader and reader.is_alive()):  # never close an fd a thread still reads
            os.close(self._from_browser)
            self._from_browser = -1
        shutil.rmtree(self._dir, ignore_errors=True)

    def _start(self) -> None:
        executable = chromium_path()
        if executable is None:
            configured = os.environ.get("CURATE_CHROMIUM")
            raise RuntimeError(f"CURATE_CHROMIUM={configured} is not an executable" if configured
                               else "no Chromium: set CURATE_CHROMIUM or put one of " + ", ".join(NAMES) + " on PATH")
        browser_reads, self._to_browser = os.pipe()
        self._from_browser, browser_writes = os.pipe()
        try:
            with open(self._dir / "stderr.log", "wb") as stderr:
                self._process = subprocess.Popen(
                    ["/bin/sh", "-c", LAUNCH, executable, *FLAGS, f"--user-data-dir={self._dir / 'profile'}"],
                    stdin=browser_reads, stdout=browser_writes, stderr=stderr, start_new_session=True,
                    # crash reports (~/.config/chromium) and dconf (~/.cache) would otherwise land in $HOME
                    env={**os.environ, "XDG_CONFIG_HOME": str(self._dir / "config"), "XDG_CACHE_HOME": str(self._dir / "cache")},
                )
        finally:
            os.close(browser_reads)
            os.close(browser_writes)
        self._reader = threading.Thread(target=self._read, name="chromium-cdp", daemon=True)
        self._reader.start()

    def _open(self, width: int, height: int) -> None:
        started = self._send("Target.createTarget", {"url": "about:blank"}, what="the browser to start", timeout=max(self.timeout, STARTUP_TIMEOUT))
        target = started["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable")
        self._send("Page.setLifecycleEventsEnabled", {"enabled": True})
        self._send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        self._send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        navigation = self._send("Page.navigate", {"url": self.url})
        if navigation.get("errorText"):
            raise RuntimeError(f"Chromium could not open {self.url}: {navigation['errorText']}")
        # the load event of this navigation's document (its loaderId), not a late one of about:blank
        loader = navigation.get("loaderId")
        if loader:
            self._wait(lambda: loader in self._loaded, f"the load event of {self.url} (Page.lifecycleEvent 'load')")
        self._send("Runtime.evaluate", {"expression": "0"})  # a round trip: what the page did until now is recorded

    def _send(self, method: str, params: dict[str, Any] | None = None, *, what: str = "", timeout: float | None = None) -> dict[str, Any]:
        """Send a command to the page's session (once attached) and return its result; events that arrive
        meanwhile go to the recorders. A protocol error, a timeout or the browser's exit raise RuntimeError."""
        with self._cond:
            self._last_id += 1
            ident = self._last_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if self._session is not None:
            message["sessionId"] = self._session
        data = memoryview(json.dumps(message).encode() + b"\0")
        try:
            while data:
                data = data[os.write(self._to_browser, data):]
        except OSError as e:
            raise RuntimeError(self._gone(f"sending {method} ({e})")) from None
        self._wait(lambda: ident in self._replies, what or f"the reply to {method}", timeout)
        with self._cond:
            reply = self._replies.pop(ident)
        if "error" in reply:
            error = reply["error"]
            raise RuntimeError(f"{method} failed: {error.get('message')} {error.get('data', '')}".rstrip())
        result: dict[str, Any] = reply.get("result", {})
        return result

    def _wait(self, done: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done():
                if self._eof:
                    raise RuntimeError(self._gone(f"waiting for {what}"))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
                self._cond.wait(left)

    def _gone(self, doing: str) -> str:
        """Why the browser stopped answering: its exit code and the end of its stderr."""
        code: int | None = None
        if self._process is not None:
            try:
                code = self._process.wait(2)
            except subprocess.TimeoutExpired:
                pass
        try:
            tail = (self._dir / "stderr.log").read_text(errors="replace").strip().splitlines()[-15:]
        except OSError:
            tail = []
        state = f"exited with code {code}" if code is not None else "closed its DevTools pipe"
        return f"Chromium {state} while {doing}; " + ("its stderr ends:\n" + "\n".join(tail) if tail else "it wrote nothing on stderr")

    def _read(self) -> None:
        """The reader thread: split fd 4's stream at NULs and dispatch each message, until EOF."""
        parts: list[bytes] = []
        try:
            while chunk := os.read(self._from_browser, 1 << 16):
                if b"\0" not in chunk:  # a screenshot comes in many chunks: join them once
                    parts.append(chunk)
                    continue
                *messages, rest = (b"".join(parts) + chunk).split(b"\0")
                parts = [rest] if rest else []
                for raw in messages:
                    self._dispatch(json.loads(raw))
        except OSError:
            pass
        finally:  # also on a message that is not JSON: waiters then fail at once instead of timing out
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if "id" in message:
            with self._cond:
                self._replies[message["id"]] = message
                self._cond.notify_all()
        elif method == "Page.lifecycleEvent" and params.get("name") == "load":
            with self._cond:
                self._loaded.add(params.get("loaderId", ""))
                self._cond.notify_all()
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            frames = params.get("stackTrace", {}).get("callFrames") or [{}]
            text = " ".join(_remote(arg) for arg in params.get("args", []))
            self.console_errors.append(f"console.{params['type']}: {text}{_where(frames[0].get('url'), frames[0].get('lineNumber'))}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            first = description.splitlines()[0] if description else ""
            text = first if first.startswith(details.get("text", "")) else f"{details.get('text', '')} {first}".strip()
            self.console_errors.append(f"exception: {text}{_where(details.get('url'), details.get('lineNumber'))}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"log.{entry.get('source', '?')}: {entry.get('text', '')}{_where(entry.get('url'), entry.get('lineNumber'))}")
