"""``python -m feeds.supervision case`` on a real server: a stored (compressed) state, readable."""

from __future__ import annotations

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.supervision.__main__ import main
from feeds.supervision.statecodec import shipped_codec
from feeds.supervision.synthetic import DAY, append_log
from feeds.supervision.worker import Worker
from tests.supervision.conftest import MONTH_START
from tests.supervision.factories import catalog

pytestmark = pytest.mark.integration


def test_case_prints_a_stored_state_as_json_with_free_text_masked(store, settings, month_entries, monkeypatch,
                                                                   capsys) -> None:
    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < MONTH_START + DAY])
    Worker(store, clock=ManualClock(MONTH_START + DAY), consumer="cli", catalog=catalog()).drain()
    case = next(e for e in month_entries if e.kind == "report" and e.t < MONTH_START + DAY)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)

    assert main(["--namespace", settings.namespace, "case", case.case]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["id"] == case.case and shown["v"] >= 1 and shown["status"]

    state = orjson.loads(orjson.dumps(shown))
    state["text"] = "联系人 13912345678 说井盖丢了"  # a reporter's phone in the free text ...
    state["timeline"][-1]["reason"] = "已电话联系 13912345678"  # ... and in a note on the timeline
    client.set(keys.case("PHONE"), shipped_codec().encode(state))
    assert main(["--namespace", settings.namespace, "case", "PHONE"]) == 0
    out = capsys.readouterr().out
    assert "13912345678" not in out and "井盖" in orjson.loads(out)["text"]
    assert orjson.loads(out)["recv"] == state["recv"]  # numbers untouched
    assert main(["--namespace", settings.namespace, "case", "PHONE", "--unmasked"]) == 0
    assert "13912345678" in orjson.loads(capsys.readouterr().out)["text"]
    assert main(["--namespace", settings.namespace, "case", "NOPE"]) == 1
