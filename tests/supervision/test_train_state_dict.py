"""``python -m tools.train_state_dict``: a dictionary from the demo district's states, never a replaced one."""

from __future__ import annotations

import orjson
import pytest
import zstandard

from feeds.supervision.statecodec import StateCodec
from tools.train_state_dict import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_training_adds_a_dictionary_beside_the_old_ones_and_never_replaces_one(tmp_path, capsys) -> None:
    assert main(["--days", "1", "--out", str(tmp_path)]) == 0
    first = tmp_path / "state-1.zdict"
    assert first.exists() and "compressed" in capsys.readouterr().out
    assert zstandard.ZstdCompressionDict(first.read_bytes()).dict_id() == 32_769
    state = {"id": "YZ1", "v": 3, "status": "signed", "clocks": {}, "alerts": {}, "timeline": [],
             "text": "井盖缺失", "dept": "ZFJ"}
    old = StateCodec.shipped(tmp_path).encode(state)

    with pytest.raises(SystemExit, match="never replaced"):
        main(["--days", "1", "--out", str(tmp_path), "--id", "1"])
    assert main(["--days", "1", "--out", str(tmp_path)]) == 0  # the next one: state-2
    both = StateCodec.shipped(tmp_path)
    assert both.dict_id == 32_770
    assert both.decode(old) == state  # written with state-1, still read
    assert orjson.loads(orjson.dumps(both.decode(both.encode(state)))) == state
