"""The case-state storage format (``feeds.supervision.statecodec``): pure, no server."""

from __future__ import annotations

import hashlib
import threading

import orjson
import pytest
import zstandard

from feeds.supervision import lifecycle as lc
from feeds.supervision.statecodec import DICT_DIR, ZSTD_MAGIC, StateCodec, decode_state, shipped_codec
from tests.supervision.factories import report, rules, update

T0 = 1_790_820_000_000  # a weekday morning, 2026-10-01 10:00 +08:00


def _state(case: str = "A") -> dict:
    s = lc.apply(None, report(case, T0, channel="police_110"), rules()).state
    s = lc.apply(s, update(case, 2, "dispatched", T0 + 60_000, dept="ZFJ"), rules()).state
    return lc.apply(s, update(case, 3, "signed", T0 + 30 * 60_000), rules()).state


def test_a_state_round_trips_as_a_zstd_frame_naming_the_shipped_dictionary() -> None:
    codec = shipped_codec()
    s = _state()
    raw = codec.encode(s)
    assert raw[:4] == ZSTD_MAGIC
    assert zstandard.get_frame_parameters(raw).dict_id == codec.dict_id
    assert codec.decode(raw) == orjson.loads(orjson.dumps(s))
    assert len(raw) * 3 < len(orjson.dumps(s))  # the point of it
    assert codec.encode(s) == raw  # deterministic: the worker compares bytes it wrote with bytes it reads


def test_plain_json_and_missing_keys_are_read_as_they_are() -> None:
    s = _state()
    assert decode_state(orjson.dumps(s)) == orjson.loads(orjson.dumps(s))  # written before compression, or by hand
    assert decode_state(orjson.dumps(s).decode()) == orjson.loads(orjson.dumps(s))
    assert decode_state(None) is None and decode_state(b"") is None
    assert StateCodec().encode(s) == orjson.dumps(s)  # no dictionary shipped: plain JSON


def test_a_frame_of_an_unknown_dictionary_is_refused_with_its_id() -> None:
    other = zstandard.train_dictionary(4096, [orjson.dumps(_state(f"C{i}")) for i in range(200)], dict_id=40_000)
    raw = StateCodec([other.as_bytes()]).encode(_state())
    with pytest.raises(ValueError, match="unknown dictionary.*40000"):
        shipped_codec().decode(raw)


def test_states_written_with_an_older_dictionary_stay_readable_when_a_new_one_is_added() -> None:
    samples = [orjson.dumps(_state(f"C{i}")) for i in range(200)]
    first = zstandard.train_dictionary(4096, samples, dict_id=40_001).as_bytes()
    second = zstandard.train_dictionary(8192, samples, dict_id=40_002).as_bytes()
    old = StateCodec([first]).encode(_state())
    both = StateCodec([first, second])
    assert both.dict_id == 40_002
    assert zstandard.get_frame_parameters(both.encode(_state())).dict_id == 40_002
    assert both.decode(old) == orjson.loads(orjson.dumps(_state()))


def test_a_dictionary_without_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an id"):
        StateCodec([b"just some bytes, a raw content dictionary"])


def test_threads_encode_and_decode_at_once() -> None:
    codec = StateCodec.shipped()
    states = [_state(f"T{i}") for i in range(40)]
    expected = [orjson.loads(orjson.dumps(s)) for s in states]
    errors: list[str] = []

    def work() -> None:
        for _ in range(50):
            for s, want in zip(states, expected, strict=True):
                if codec.decode(codec.encode(s)) != want:
                    errors.append(s["id"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_the_shipped_dictionary_is_never_replaced() -> None:
    """A new dictionary is a new file (``python -m tools.train_state_dict``); state-1 decodes every
    state written with it, so its bytes may never change."""
    data = (DICT_DIR / "state-1.zdict").read_bytes()
    assert hashlib.sha256(data).hexdigest() == "ca89b63ad8441e98e969dc7f9dafa82ad338c638a4d8628383df09c666bbf196"
    assert zstandard.ZstdCompressionDict(data).dict_id() == 32_769
