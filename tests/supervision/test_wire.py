"""The worker's own RESP reader (``feeds.supervision.wire``): every type, partial buffers, a live server."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from feeds.supervision import wire
from feeds.supervision.worker import _resp

REPLIES = (b"+OK\r\n:42\r\n$5\r\na\r\nbc\r\n$-1\r\n_\r\n,1.5\r\n#t\r\n-ERR nope\r\n"
           b"*2\r\n*1\r\n$1\r\nx\r\n%1\r\n$1\r\nk\r\n*0\r\n*-1\r\n")
N = 10


def _parse(data: bytes, n: int = N) -> list:
    reader = wire.ReplyReader(n)
    assert reader.feed(data) and reader.leftover() == 0
    return reader.done


def test_parses_every_type_and_a_crlf_inside_a_bulk_string() -> None:
    values = _parse(REPLIES)
    assert values[:7] == [b"OK", 42, b"a\r\nbc", None, None, 1.5, True]
    assert isinstance(values[7], ResponseError) and str(values[7]) == "ERR nope"
    assert values[8] == [[b"x"], {b"k": []}]
    assert values[9] is None


@pytest.mark.parametrize("cut", range(1, len(REPLIES)))
def test_a_reply_cut_anywhere_resumes_where_it_stopped(cut: int) -> None:
    reader = wire.ReplyReader(N)
    assert not reader.feed(REPLIES[:cut])
    assert reader.feed(REPLIES[cut:])
    assert str(reader.done) == str(_parse(REPLIES))  # errors compare by their text


def test_fed_one_byte_at_a_time() -> None:
    reader = wire.ReplyReader(N)
    fed = [reader.feed(REPLIES[i:i + 1]) for i in range(len(REPLIES))]
    assert fed[-1] and not any(fed[:-1])
    assert str(reader.done) == str(_parse(REPLIES))


def test_nested_stream_entries_and_bytes_beyond_the_replies() -> None:
    entry = b"*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nk\r\n$1\r\nr\r\n$1\r\nd\r\n$4\r\n{\r\n}\r\n"
    reply = b"%1\r\n$3\r\nlog\r\n*2\r\n" + entry + entry
    reader = wire.ReplyReader(1)
    assert reader.feed(reply + b"+extra\r\n")
    assert reader.done == [{b"log": [[b"1-0", [b"k", b"r", b"d", b"{\r\n}"]]] * 2}]
    assert reader.leftover() == len(b"+extra\r\n")


def test_reads_pipelined_replies_from_a_server(store) -> None:
    client = store.client
    client.set("wire:k", b"v\r\n" * 100_000)  # a reply larger than one socket read
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_packed_command([_resp([("GET", "wire:k"), ("MGET", "wire:k", "wire:none"), ("INCR", "wire:n"),
                                         ("HGET", "wire:k", "f")])])
        got = wire.read_replies(conn, 4)
    finally:
        pool.release(conn)
    assert got[0] == b"v\r\n" * 100_000
    assert got[1] == [b"v\r\n" * 100_000, None]
    assert got[2] == 1
    assert isinstance(got[3], ResponseError)  # WRONGTYPE, returned in place
    assert client.ping()  # the connection went back to the pool in a clean state


# --- the log's XREADGROUP reply read as entries (wire.LogEntriesReader) ---------------------------
def _entry(eid: bytes, fields: list[bytes] | None) -> bytes:
    if fields is None:
        return b"*2\r\n$%d\r\n%s\r\n*-1\r\n" % (len(eid), eid)
    return b"*2\r\n$%d\r\n%s\r\n*%d\r\n" % (len(eid), eid, len(fields)) + b"".join(
        b"$%d\r\n%s\r\n" % (len(f), f) for f in fields)


def _stream(entries: list[bytes], resp3: bool = False) -> bytes:
    head = b"%1\r\n" if resp3 else b"*1\r\n*2\r\n"
    return head + b"$12\r\n{330212}:log\r\n*%d\r\n" % len(entries) + b"".join(entries)


LOG = [_entry(b"1764034260000-%d" % i, [b"h", b"report\x1fYZ26120400%05d\x1f1\x1f1764034260000" % i,
                                        b"d", b'{"description":"\xe4\xba\x95\\r\\n","n":%d}' % i]) for i in range(3)]
CRLF_PAYLOAD = _entry(b"1-1", [b"h", b"signed\x1fYZ1\x1f2\x1f1", b"d", b"a\r\nb\r\n"])  # by length: fine


def _general(data: bytes) -> list:
    """What the general reader and the worker's conversion make of a reply."""
    return _entries(_parse(data, 1)[0])


def _entries(reply: object) -> list:
    if isinstance(reply, wire.LogEntries):
        return list(reply)
    if reply is None:
        return []
    batch = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    return [(eid, dict(zip(f[0::2], f[1::2], strict=True))) for eid, f in batch if f]


def _fast(data: bytes, pieces: int | None = None, cut: int | None = None) -> tuple[list, bool]:
    reader = wire.LogEntriesReader()
    if cut is not None:
        assert not reader.feed(data[:cut])
        assert reader.feed(data[cut:])
    elif pieces == 1:
        fed = [reader.feed(data[i:i + 1]) for i in range(len(data))]
        assert fed[-1] and not any(fed[:-1])
    else:
        assert reader.feed(data)
    assert reader.leftover() == 0
    reply = reader.done[0]
    return _entries(reply), isinstance(reply, wire.LogEntries)


@pytest.mark.parametrize("resp3", [False, True])
def test_log_entries_are_read_on_the_fast_path_as_the_general_reader_reads_them(resp3: bool) -> None:
    data = _stream([*LOG, CRLF_PAYLOAD], resp3)
    got, fast = _fast(data)
    assert fast
    assert got == _general(data)
    assert got[0] == (b"1764034260000-0", {b"h": b"report\x1fYZ2612040000000\x1f1\x1f1764034260000",
                                           b"d": b'{"description":"\xe4\xba\x95\\r\\n","n":0}'})
    assert got[-1][1][b"d"] == b"a\r\nb\r\n"


def test_log_entries_cut_anywhere_or_fed_byte_by_byte_resume() -> None:
    data = _stream([*LOG, CRLF_PAYLOAD])
    whole = _general(data)
    for cut in range(1, len(data)):
        got, fast = _fast(data, cut=cut)
        assert fast and got == whole, cut
    got, fast = _fast(data, pieces=1)
    assert fast and got == whole


@pytest.mark.parametrize(("name", "data"), [
    ("no entries (nil)", b"*-1\r\n"),
    ("no entries (RESP3 null)", b"_\r\n"),
    ("a deleted entry", _stream([LOG[0], _entry(b"2-0", None), LOG[1]])),
    ("a deleted entry last", _stream([LOG[0], _entry(b"2-0", None)])),
    ("the five-field format", _stream([LOG[0], _entry(b"2-0", [b"k", b"report", b"c", b"YZ1", b"v", b"1", b"t", b"5",
                                                                 b"d", b"{}"])])),
    ("fields in another order", _stream([_entry(b"2-0", [b"d", b"{}", b"h", b"x"])])),
    ("a CR inside a header", _stream([_entry(b"2-0", [b"h", b"a\rb", b"d", b"{}"]), LOG[0]])),
])
def test_anything_else_is_handed_to_the_general_reader_whole(name: str, data: bytes) -> None:
    got, fast = _fast(data)
    assert not fast, name
    assert got == _general(data)
    for cut in range(1, len(data), max(1, len(data) // 97)):  # and never waits for bytes that will not come
        reader = wire.LogEntriesReader()
        reader.feed(data[:cut])
        assert reader.feed(data[cut:]), (name, cut)
        assert _entries(reader.done[0]) == got, (name, cut)


@pytest.mark.parametrize(("name", "data"), [
    ("an empty stream", _stream([])),
    ("a header longer than the probe", _stream([LOG[0], _entry(b"2-0", [b"h", b"x" * 5000, b"d", b"{}"]), LOG[1]])),
])
def test_either_path_gives_the_same_entries_wherever_the_reply_is_cut(name: str, data: bytes) -> None:
    whole = _general(data)
    assert _fast(data)[0] == whole
    for cut in range(1, len(data), 7):
        reader = wire.LogEntriesReader()
        assert not reader.feed(data[:cut]), (name, cut)
        assert reader.feed(data[cut:]), (name, cut)
        assert _entries(reader.done[0]) == whole, (name, cut)


def test_an_error_reply_comes_back_as_the_error() -> None:
    reader = wire.LogEntriesReader()
    assert reader.feed(b"-NOGROUP No such key\r\n")
    assert isinstance(reader.done[0], ResponseError)


def test_reads_a_real_xreadgroup_of_log_entries(store) -> None:
    client = store.client
    for i in range(3000):  # a reply larger than one socket read
        client.xadd("wire:log", {"h": f"report\x1fYZ{i:07d}\x1f1\x1f{i}", "d": '{"t":"井盖\\r\\n缺失' + "x" * 300 + '"}'})
    client.xadd("wire:log", {"h": "signed\x1fYZ1\x1f2\x1f9", "d": "a\r\nb"})
    client.xgroup_create("wire:log", "g", id="0")
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_packed_command([_resp([("XREADGROUP", "GROUP", "g", "c", "COUNT", 5000, "STREAMS", "wire:log", ">")])])
        got = wire.read_replies(conn, 1, wire.LogEntriesReader())[0]
    finally:
        pool.release(conn)
    assert isinstance(got, wire.LogEntries) and len(got) == 3001
    expected = [(eid.encode() if isinstance(eid, str) else eid, {k.encode() if isinstance(k, str) else k:
                 v.encode() if isinstance(v, str) else v for k, v in f.items()})
                for eid, f in client.xrange("wire:log")]
    assert list(got) == expected
    assert client.ping()
