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

import re
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


class LogEntries(list):
    """A stream reply already turned into its entries ``(id, {b"h": header, b"d": payload})``."""


# one stream's XREAD/XREADGROUP reply: RESP2 [[key, entries]] or RESP3 {key: entries}
_STREAM_HEAD = re.compile(rb"(?:\*1\r\n\*2|%1)\r\n\$\d+\r\n[^\r\n]*\r\n\*(\d+)\r\n")
_LOG_ENTRY = re.compile(rb"\*2\r\n\$\d+\r\n([^\r\n]*)\r\n\*4\r\n\$1\r\nh\r\n\$\d+\r\n([^\r\n]*)\r\n"
                        rb"\$1\r\nd\r\n\$(\d+)\r\n")
# the lines of an entry before its payload: exact text, b"$" a length, None any text
_ENTRY_LINES = (b"*2", b"$", None, b"*4", b"$1", b"h", b"$", None, b"$1", b"d", b"$")
_HEADS = (b"*1\r\n*2\r\n$", b"%1\r\n$")
_PROBE = 4096  # more than this past an entry's start without a match: not a log entry


class LogEntriesReader:
    """One XREADGROUP reply of the log, read as its entries with one regex match each.

    Why: the log's entries all have the two fields of ``feeds.model`` (``h``, ``d``), and neither an
    entry id nor a header can hold CR or LF; matching an entry's fixed lines at once and slicing the
    payload by its length costs ~1 µs an entry, against ~4.8 µs for :class:`ReplyReader`'s element
    by element parse and the conversion to entries (5,000-entry replies, measured here). Anything
    else — an error, no entries, a deleted entry, other fields, a CR in a header — is handed, from
    the reply's first byte, to :class:`ReplyReader`: same answer, general speed. ``done`` holds one
    reply, a :class:`LogEntries` on the fast path.
    """

    def __init__(self) -> None:
        self.done: list = []
        self.entries = LogEntries()
        self.left: int | None = None  # entries still to come, once the head is read
        self.buf = b""
        self.pos = 0
        self.fed: list[bytes] = []  # everything so far, for the hand-over
        self.general: ReplyReader | None = None

    def feed(self, data: bytes) -> bool:
        if self.general is not None:
            return self.general.feed(data)
        self.fed.append(data)
        self.buf = self.buf[self.pos:] + data if self.pos < len(self.buf) else data
        self.pos = 0
        return self._run()

    def leftover(self) -> int:
        return self.general.leftover() if self.general is not None else len(self.buf) - self.pos

    def _run(self) -> bool:
        buf, pos = self.buf, self.pos
        if self.left is None:
            m = _STREAM_HEAD.match(buf)
            if m is None:
                lines = buf.count(b"\r\n", 0, _PROBE)  # the head is 5 lines (RESP2) or 4 (RESP3)
                if lines < (5 if buf[:1] == b"*" else 4) and any(h.startswith(buf[:len(h)]) for h in _HEADS):
                    return False  # the head is still coming
                return self._hand_over()
            self.left, pos = int(m.group(1)), m.end()
        match, add, size, left = _LOG_ENTRY.match, self.entries.append, len(buf), self.left
        while left:
            m = match(buf, pos)
            if m is None:
                self.pos, self.left = pos, left
                return False if _cut_entry(buf, pos) else self._hand_over()
            start = m.end()
            stop = start + int(m.group(3))
            if stop + 2 > size:
                break
            if buf[stop:stop + 2] != b"\r\n":
                return self._hand_over()
            add((m.group(1), {b"h": m.group(2), b"d": buf[start:stop]}))
            pos = stop + 2
            left -= 1
        self.pos, self.left = pos, left
        if left:
            return False
        self.done = [self.entries]
        return True

    def _hand_over(self) -> bool:
        self.general = ReplyReader(1)
        self.done = self.general.done
        data, self.fed, self.buf = b"".join(self.fed), [], b""
        return self.general.feed(data)


def _cut_entry(buf: bytes, pos: int) -> bool:
    """True if what follows ``pos`` is the start of a log entry that has not fully arrived."""
    rest = buf[pos:]
    if len(rest) >= _PROBE:
        return False
    lines = rest.split(b"\r\n")
    last = lines.pop()
    if len(lines) >= len(_ENTRY_LINES):
        return False  # every line of the entry's head is here and it did not match
    for i, line in enumerate(lines):
        want = _ENTRY_LINES[i]
        if want == b"$":
            if not (line[:1] == b"$" and line[1:].isdigit()):
                return False
        elif want is not None and line != want:
            return False
    want = _ENTRY_LINES[len(lines)]
    if last.endswith(b"\r"):
        last = last[:-1]
    if want == b"$":
        return last[:1] in (b"", b"$") and (last[1:].isdigit() or last[1:] == b"")
    return want is None or want.startswith(last)


def read_replies(conn: Any, n: int, reader: Any = None) -> list:
    """Read exactly ``n`` replies from a redis-py connection whose commands were just sent
    (``reader``: a :class:`LogEntriesReader` for one XREADGROUP of the log)."""
    sock: socket.socket = conn._sock
    if sock is None:
        raise RedisConnectionError("connection closed")
    reader = reader or ReplyReader(n)
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
