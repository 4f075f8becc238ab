"""Replies of the worker's hot commands read straight from the socket by a small RESP parser.

Why: the worker's batch replies are large and flat — an XREADGROUP of 1,000 entries is ~13,000
bulk strings, a MULTI/EXEC of a batch a few hundred QUEUED lines and results. redis-py's
pure-Python parser costs ~1.3 µs an element (a ``readline`` and a buffer ``read`` each, through
several method calls): ~18 µs of the worker's ~66 µs CPU per transition went into reading
XREADGROUP alone. Here each element is an ``index`` of ``\\r\\n`` and a slice of one bytes
buffer. RESP2 and RESP3 (what redis-py negotiates) are both understood.

Used on a connection borrowed from redis-py's pool after redis-py sent the commands (so its
connect, handshake and health checks stay in charge); every reply asked for is consumed before
the connection goes back, so redis-py's own parser never sees a partial stream. On any error
the caller disconnects the connection.
"""

from __future__ import annotations

import socket
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

_CHUNK = 1 << 20


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more and parse the reply again."""


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One reply starting at ``pos``: (value, position after it). Raises :class:`_Incomplete`."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    t = buf[pos]
    if t == 36:  # $ bulk string
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        stop = end + 2 + n
        if stop + 2 > len(buf):
            raise _Incomplete
        return buf[end + 2:stop], stop + 2
    if t in (42, 37, 126, 62):  # * array, % map, ~ set, > push
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        items = _parse_items(buf, end + 2, n * 2 if t == 37 else n)
        pos = items.pop()
        if t == 37:
            return dict(zip(items[0::2], items[1::2], strict=True)), pos
        return items, pos
    if t == 43:  # + simple string
        return buf[pos + 1:end], end + 2
    if t == 58:  # : integer
        return int(buf[pos + 1:end]), end + 2
    if t == 45:  # - error: returned, not raised (EXEC results carry them in place)
        return ResponseError(buf[pos + 1:end].decode(errors="replace")), end + 2
    if t == 95:  # _ null
        return None, end + 2
    if t == 44:  # , double
        return float(buf[pos + 1:end]), end + 2
    if t == 35:  # # boolean
        return buf[pos + 1:end] == b"t", end + 2
    raise RedisConnectionError(f"unexpected RESP type byte {chr(t)!r}")


def _parse_items(buf: bytes, pos: int, n: int) -> list:
    """``n`` consecutive replies from ``pos``; the list ends with the position after them.

    Bulk strings (nearly every element of the worker's replies) are parsed inline: no call each.
    """
    out: list = []
    add = out.append
    find = buf.find
    size = len(buf)
    for _ in range(n):
        if pos < size and buf[pos] == 36:
            end = find(b"\r\n", pos)
            if end < 0:
                raise _Incomplete
            k = int(buf[pos + 1:end])
            if k < 0:
                add(None)
                pos = end + 2
                continue
            pos = end + 2 + k
            if pos + 2 > size:
                raise _Incomplete
            add(buf[end + 2:pos])
            pos += 2
        else:
            if pos >= size:
                raise _Incomplete
            v, pos = _parse(buf, pos)
            add(v)
    add(pos)
    return out


def parse_all(buf: bytes, n: int) -> tuple[list, int]:
    """``n`` replies from the start of ``buf``: (values, bytes used); raises :class:`_Incomplete`."""
    items = _parse_items(buf, 0, n)
    used = items.pop()
    return items, used


def read_replies(conn: Any, n: int) -> list:
    """Read exactly ``n`` replies from a redis-py connection whose commands were just sent.

    The socket is drained of whatever has arrived before each parse attempt, so a large reply
    is parsed a few times at most, not once per network chunk.
    """
    sock: socket.socket = conn._sock
    if sock is None:
        raise RedisConnectionError("connection closed")
    chunks: list[bytes] = []
    drain = sock.gettimeout() is None  # with a timeout, a MSG_DONTWAIT read would wait for it
    while True:
        chunks.append(_recv(sock))
        if drain:
            _drain(sock, chunks)
        buf = b"".join(chunks) if len(chunks) > 1 else chunks[0]
        chunks = [buf]
        try:
            values, used = parse_all(buf, n)
        except _Incomplete:
            continue
        if used != len(buf):  # a reply nobody asked for: the stream position is unknown
            raise RedisConnectionError(f"{len(buf) - used} unexpected bytes after {n} replies")
        return values


def _recv(sock: socket.socket) -> bytes:
    try:
        data = sock.recv(_CHUNK)
    except OSError as e:
        raise RedisConnectionError(f"reading from the server: {e}") from e
    if not data:
        raise RedisConnectionError("server closed the connection")
    return data


def _drain(sock: socket.socket, chunks: list[bytes]) -> None:
    """Append what is already readable without blocking."""
    while True:
        try:
            data = sock.recv(_CHUNK, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            raise RedisConnectionError(f"reading from the server: {e}") from e
        if not data:
            raise RedisConnectionError("server closed the connection")
        chunks.append(data)
