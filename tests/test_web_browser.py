"""The page in headless Chromium: click a recommendation, see its top reason drawn as a path.

Drives Chromium over the DevTools protocol with aiohttp's websocket client. Skips when Chromium
is not installed (Debian: ``apt-get install -y chromium``). The screenshot goes to
``$GRAPHREC_TEST_ARTIFACTS`` (default: a pytest temporary folder) and its path is printed.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@pytest.fixture
def base_url(trained_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, trained_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("GRAPHREC_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


class DevTools:
    """Just enough of the DevTools protocol: send a command, wait for its answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 30)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"still false after {timeout}s: {expression}")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                            button="left", clickCount=1)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium; yields its DevTools HTTP address."""
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1360,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def open_page(devtools_url: str, url: str, screenshot: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{devtools_url}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=url)
            await tools.wait_for("document.readyState === 'complete' && "
                                 "document.querySelectorAll('#recommendations .rec').length > 0")
            item = await tools.evaluate(
                "Array.from(document.querySelectorAll('#recommendations .rec'))"
                ".find(li => li.querySelector('.reason')).dataset.item")
            await tools.click(f'#recommendations .rec[data-item="{item}"]')
            await tools.wait_for(f"document.getElementById('explanation').dataset.item === "
                                 f"{json.dumps(item)}")
            drawn = await tools.evaluate("""(() => ({
                top: Array.from(document.querySelectorAll('#graph .node.top'))
                       .map(g => [g.dataset.type, g.dataset.id]),
                nodes: document.querySelectorAll('#graph .node').length,
                paths: document.querySelectorAll('#graph .edge').length,
                topEdges: Array.from(document.querySelectorAll('#graph .edge.top'))
                            .map(g => [g.dataset.from, g.dataset.type, g.dataset.to]),
                sentences: Array.from(document.querySelectorAll('#paths .path'))
                             .map(li => li.firstChild.textContent),
                selected: document.querySelector('#recommendations .rec.selected').dataset.item,
                legend: document.querySelectorAll('.legend li').length,
                labelsOnNodes: (() => {
                    const circles = Array.from(document.querySelectorAll('#graph .node circle'))
                                      .map(c => c.getBoundingClientRect());
                    return Array.from(document.querySelectorAll('#graph .edge text'))
                      .map(t => t.getBoundingClientRect())
                      .filter(l => circles.some(c => l.left < c.right && c.left < l.right
                                                  && l.top < c.bottom && c.top < l.bottom))
                      .length;
                })(),
            }))()""")
            shot = await tools.call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            return {"item": item, **drawn}


def test_click_draws_the_top_reason(base_url: str, chromium: str, client,  # noqa: F811
                                    sample_user: str, artifacts: Path) -> None:  # noqa: F811
    screenshot = artifacts / "web-explanation.png"
    page = asyncio.run(open_page(chromium, f"{base_url}/users/{sample_user}", screenshot))
    print(f"screenshot: {screenshot}")

    item = page["item"]
    assert page["selected"] == item
    explanation = client.get(
        f"/api/users/{sample_user}/recommendations/{item}/explanation").get_json()
    top = explanation["paths"][0]
    assert sorted(map(tuple, page["top"])) == sorted({(n["type"], n["id"]) for n in top["nodes"]})
    ids = {node["key"]: node["id"] for node in top["nodes"]}
    assert sorted(page["topEdges"]) == sorted(
        [ids[rel["from"]], rel["type"], ids[rel["to"]]] for rel in top["relationships"])
    assert page["nodes"] >= len(top["nodes"])
    assert page["sentences"] == [path["sentence"] for path in explanation["paths"]]
    assert page["legend"] == 5
    assert page["labelsOnNodes"] == 0  # an arc over a column keeps its label off the nodes
    assert screenshot.stat().st_size > 10_000
