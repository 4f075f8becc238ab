"""The worker's RESP encoder: hiredis's C encoder (when installed) and the plain-Python one agree."""

from __future__ import annotations

import pytest

from feeds.supervision import worker

COMMANDS = [
    ("MULTI",),
    ("MSET", "{330212}:case:YZ1", b'{"id":"YZ1","text":"\xe5\x8d\xa0\xe9\x81\x93\r\n"}', "{330212}:case:YZ2", b""),
    ("ZADD", "{330212}:sv:alertq", 10001790000000000.0, "YZ1:sign:overdue", 1790784000000, "YZ2:close:near_due",
     0.5, "m", 1e-07, "tiny", -3, "neg"),
    ("HINCRBY", "{330212}:heat:20261001", "8a309a6b1ffffff|CG-VENDOR|app|1|ZFJ", 3),
    ("HSET", "{330212}:sv:meta", "watermark", 1790784000000, "last_id", "", "lag", 0),
    ("XACK", "{330212}:log", "supervision", "1790784000000-0", "1790784000001-12"),
    ("EVAL", "return 1", 0, "中文 参数"),
    ("EXEC",),
]


def test_python_encoder_writes_resp() -> None:
    assert worker._resp_python([("SET", "k", b"v\r\n", 12, 1.5)]) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n12\r\n$3\r\n1.5\r\n")


def test_hiredis_encoder_gives_the_same_bytes() -> None:
    if worker._hiredis_pack is None:
        pytest.skip("hiredis not installed: the plain-Python encoder is the one in use")
    assert worker._resp(COMMANDS) == worker._resp_python(COMMANDS)


def _reference(cmds: list[tuple]) -> bytes:
    """RESP as the protocol spells it, one argument at a time."""
    out = b""
    for cmd in cmds:
        out += b"*%d\r\n" % len(cmd)
        for a in cmd:
            a = a if isinstance(a, bytes) else (a.encode() if isinstance(a, str) else repr(a).encode())
            out += b"$%d\r\n" % len(a) + a + b"\r\n"
    return out


@pytest.mark.parametrize("cmds", [COMMANDS, [("SET", "中", "é")], [("X", b"", "", 0, -1, True, 2**70)], []])
def test_python_encoder_matches_the_reference_byte_for_byte(cmds: list[tuple]) -> None:
    assert worker._resp_python(cmds) == _reference(cmds)


@pytest.mark.parametrize("fields", [
    {b"h": b"report\x1fYZ1\x1f1\x1f1790784000000", b"d": b'{"text":"\xe5\x8d\xa0"}'},
    {b"h": b"dispatched\x1fYZ1\x1f2\x1f17", b"d": b"{}", b"extra": b"x"},
    {b"h": b"report\x1fYZ1\x1f1\x1f5"},  # no d: the general decoder's default
    {"h": "report\x1fYZ1\x1f1\x1f5", "d": "{}"},  # str keys
    # entries written in the earlier five-field format
    {b"k": b"report", b"c": b"YZ1", b"v": b"1", b"t": b"1790784000000", b"d": b'{"text":"\xe5\x8d\xa0"}'},
    {b"k": b"dispatched", b"c": b"YZ1", b"v": b"2", b"t": b"17", b"d": b"{}", b"extra": b"x"},
    {b"k": b"report", b"c": b"YZ1", b"v": b"1", b"t": b"5"},  # no d: the general decoder's default
    {"k": "report", "c": "YZ1", "v": "1", "t": "5", "d": "{}"},  # str keys
])
def test_the_fast_entry_decoder_agrees_with_decode_entry(fields: dict) -> None:
    from feeds.model import decode_entry

    fast = worker._decode_fast("1-0", fields)
    assert (fast or decode_entry("1-0", fields)) == decode_entry("1-0", fields)
