"""Replies of the worker's hot commands read straight from the socket by a small RESP parser.

Why: the worker's batch replies are large and flat — an XREADGROUP of 1,000 entries is ~13,000
bulk strings, a MULTI/EXEC of a batch a few hundred QUEUED lines and results. redis-py's
pure-Python parser costs ~1.3 µs an element (a ``readline`` and a buffer ``read`` each, through
several method calls): ~18 µs of the worker's ~66 µs CPU per transition went into reading
XREADGROUP alone. Here each element is a ``find`` of ``\\r\\n`` and a slice of one bytes
buffer, and a reply arriving in pieces is parsed once (:class:`ReplyReader` resumes). RESP2 and RESP3 (what redis-py negotiates) are both understood.

Used on a connection borrowed from redis-py's pool after redis-py sent the commands (so its
connect, handshake and health checks stay in charge); every reply asked for is consumed before
the connection goes back, so redis-py's own parser never sees a partial stream. On any error
the caller disconnects the connection.
"""

from __future__ import annotations

import socket
from typing import Any

from feeds.store import RedisConnectionError, ResponseError  # the one module that imports redis

_CHUNK = 1 << 20


class ReplyReader:
    """Parses ``n`` replies from data fed in pieces, resuming where the last piece ended.

    A 5,000-entry XREADGROUP or MGET reply (1–2 MB) reaches the socket in many pieces; parsing it
    again from the start after each piece cost more than the parse itself. The state between
    pieces: the unparsed tail of the buffer (at most one element), the completed replies, and a
    stack of the aggregates being filled (``[items, still missing, type byte]``).
    """

    def __init__(self, n: int) -> None:
        self.want = n
        self.done: list = []
        self.stack: list[list] = []
        self.buf = b""
        self.pos = 0

    def feed(self, data: bytes) -> bool:
        """Add data; True once all ``n`` replies are complete (then see :attr:`done`)."""
        self.buf = self.buf[self.pos:] + data if self.pos < len(self.buf) else data
        self.pos = 0
        return self._run()

    def leftover(self) -> int:
        """Bytes received beyond the replies asked for."""
        return len(self.buf) - self.pos

    def _run(self) -> bool:  # noqa: C901 - one loop on purpose: it runs ~13 times per stream entry
        buf, pos, stack, done = self.buf, self.pos, self.stack, self.done
        size = len(buf)
        find = buf.find
        while len(done) < self.want:
            end = find(b"\r\n", pos)
            if end < 0:
                break
            t = buf[pos]
            if t == 36:  # $ bulk string: nearly every element
                k = int(buf[pos + 1:end])
                if k < 0:
                    value: Any = None
                    pos = end + 2
                else:
                    stop = end + 2 + k
                    if stop + 2 > size:
                        break
                    value = buf[end + 2:stop]
                    pos = stop + 2
            elif t in (42, 37, 126, 62):  # * array, % map, ~ set, > push
                k = int(buf[pos + 1:end])
                pos = end + 2
                if k > 0:
                    stack.append([[], 2 * k if t == 37 else k, t])
                    continue
                value = None if k < 0 else ({} if t == 37 else [])
            else:
                value = _simple(t, buf[pos + 1:end])
                pos = end + 2
            # into its aggregate; one that this completes is closed into its parent, and so on up:
            # a value with no open aggregate above it is a whole reply
            while stack:
                frame = stack[-1]
                frame[0].append(value)
                frame[1] -= 1
                if frame[1]:
                    break
                value = _close(stack.pop())
            else:
                done.append(value)
        self.pos = pos
        return len(done) >= self.want


def _close(frame: list) -> Any:
    items = frame[0]
    return dict(zip(items[0::2], items[1::2], strict=True)) if frame[2] == 37 else items


def _simple(t: int, body: bytes) -> Any:
    if t == 43:  # + simple string
        return body
    if t == 58:  # : integer
        return int(body)
    if t == 45:  # - error: returned, not raised (EXEC results carry them in place)
        return ResponseError(body.decode(errors="replace"))
    if t == 95:  # _ null
        return None
    if t == 44:  # , double
        return float(body)
    if t == 35:  # # boolean
        return body == b"t"
    raise RedisConnectionError(f"unexpected RESP type byte {chr(t)!r}")


def read_replies(conn: Any, n: int) -> list:
    """Read exactly ``n`` replies from a redis-py connection whose commands were just sent."""
    sock: socket.socket = conn._sock
    if sock is None:
        raise RedisConnectionError("connection closed")
    reader = ReplyReader(n)
    drain = sock.gettimeout() is None  # with a timeout, a MSG_DONTWAIT read would wait for it
    while True:
        chunks = [_recv(sock)]
        if drain:
            _drain(sock, chunks)
        if reader.feed(b"".join(chunks) if len(chunks) > 1 else chunks[0]):
            break
    if reader.leftover():  # a reply nobody asked for: the stream position is unknown
        raise RedisConnectionError(f"{reader.leftover()} unexpected bytes after {n} replies")
    return reader.done


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
