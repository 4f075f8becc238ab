"""The worker's own RESP reader (``feeds.supervision.wire``): every type, partial buffers, a live server."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from feeds.supervision import wire
from feeds.supervision.worker import _resp

REPLIES = (b"+OK\r\n:42\r\n$5\r\na\r\nbc\r\n$-1\r\n_\r\n,1.5\r\n#t\r\n-ERR nope\r\n"
           b"*2\r\n*1\r\n$1\r\nx\r\n%1\r\n$1\r\nk\r\n*0\r\n*-1\r\n")
N = 10


def test_parses_every_type_and_a_crlf_inside_a_bulk_string() -> None:
    values, used = wire.parse_all(REPLIES, N)
    assert used == len(REPLIES)
    assert values[:8] == [b"OK", 42, b"a\r\nbc", None, None, 1.5, True, values[7]]
    assert isinstance(values[7], ResponseError) and str(values[7]) == "ERR nope"
    assert values[8] == [[b"x"], {b"k": []}]
    assert values[9:] == [None]


@pytest.mark.parametrize("cut", range(1, len(REPLIES)))
def test_a_cut_buffer_is_incomplete_never_wrong(cut: int) -> None:
    with pytest.raises(wire._Incomplete):
        wire.parse_all(REPLIES[:cut], N)


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
