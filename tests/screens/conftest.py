"""Browser-test fixtures: the REAL product as a subprocess, headless Chromium, a cuttable proxy.

``python -m dashboard`` is started on a free port with its own data folder (embedded Valkey,
supervision worker, relay, web server; the demo simulator when asked). Chromium is Debian's
(installed with apt when missing) and cannot resolve any host but 127.0.0.1, so a screen that
tried to fetch from the internet would show it. Screenshots go to ``out/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_chromium() -> None:
    """Debian's Chromium and a CJK font; installed with apt when missing (as ``make test`` does)."""
    if Path(CHROMIUM).exists():
        return
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not Path(CHROMIUM).exists():
        pytest.fail("headless Chromium (/usr/bin/chromium) is required: apt-get install chromium fonts-noto-cjk")


class Product:
    """``python -m dashboard`` in a subprocess; ``stop`` sends SIGTERM and waits for a clean exit."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = {**os.environ, "GOV_HTTP_PORT": str(self.port), "GOV_DATA_DIR": str(data_dir),
                    "GOV_HTTP_HOST": "127.0.0.1", **env}
        self.env.pop("REDIS_URL", None)  # the product starts its own embedded server
        self.log_path = data_dir / "product.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Product:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--log-level", "INFO"], cwd=ROOT,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the product exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the product did not come up in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    # --- talking to it like a source system would ----------------------------------------
    def post_events(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        req = urllib.request.Request(self.base + "/api/events", data=json.dumps(items).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["results"]

    def redis_url(self) -> str:
        return (self.data_dir / "valkey" / "server.url").read_text().strip()


def report(lon: float, lat: float, *, channel: str = "hotline_12345", category: str = "CG-MANHOLE",
           text: str = "学校门口井盖缺失，请尽快处理", tag: str = "") -> dict[str, Any]:
    """One report as a source system posts it (docs/INGEST.md)."""
    return {"channel": channel, "source_id": f"screens-{tag}-{time.time_ns()}", "reported_at": int(time.time() * 1000),
            "category": category, "lon": lon, "lat": lat, "description": text, "address": "鄞州区测试路1号",
            "reporter": {"name": "王小明", "phone": "13812345678"}}


class CuttableProxy:
    """A TCP proxy in front of the product: ``blackhole()`` silently swallows every byte (a pulled
    cable: no FIN, no RST, so only the heartbeat can tell), ``restore()`` drops those dead
    connections and forwards again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.mode = "open"
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.server.settimeout(0.5)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode != "open":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.mode == "open":
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def restore(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.close()
            except OSError:
                pass
        self.mode = "open"

    def close(self) -> None:
        self.running = False
        self.restore()
        self.server.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def demo_product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The product with the demo simulator (a day of backfill, then live)."""
    p = Product(tmp_path_factory.mktemp("demo"), GOV_DEMO="1", GOV_DEMO_BACKFILL_DAYS="1").start()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def quiet_product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The product without the simulator: only what a test posts happens."""
    p = Product(tmp_path_factory.mktemp("quiet"), GOV_DEMO="0").start()
    yield p
    p.stop()


class External:
    """Requests the pages made to anything but the product (must stay empty: the hall is offline)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def watch(self, page: Any) -> None:
        def on_request(req: Any) -> None:
            url = req.url
            if not (url.startswith("http://127.0.0.1") or url.startswith("ws://127.0.0.1")
                    or url.startswith("data:") or url.startswith("blob:")):
                self.urls.append(url)

        page.on("request", on_request)


def new_page(browser: Any, width: int = 1920, height: int = 1080, scale: float = 1, external: External | None = None):
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale,
                              locale="zh-CN", timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    if external is not None:
        external.watch(page)
    return page
