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
