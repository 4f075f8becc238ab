"""The log entry's wire format (feeds/model.py): written by Python and by feeds/ingest.lua alike."""

from __future__ import annotations

import orjson
import pytest

from feeds.model import (
    REPORT_KIND,
    Update,
    decode_entry,
    decode_header,
    encode_update,
    entry_fields,
    entry_kind,
)


def test_an_entry_is_a_header_and_a_payload() -> None:
    f = entry_fields("dispatched", "YZ2611250000123", 2, 1790784000000, b'{"dept":"CG"}')
    assert f == {"h": b"dispatched\x1fYZ2611250000123\x1f2\x1f1790784000000", "d": b'{"dept":"CG"}'}
    e = decode_entry(b"1790784000000-0", {k.encode(): v for k, v in f.items()})
    assert (e.id, e.kind, e.case_id, e.version, e.at, e.data) == (
        "1790784000000-0", "dispatched", "YZ2611250000123", 2, 1790784000000, {"dept": "CG"})
    assert entry_kind({b"h": f["h"]}) == "dispatched"
    assert decode_header(f["h"]) == ("dispatched", "YZ2611250000123", 2, 1790784000000)


def test_entries_of_the_earlier_five_field_format_still_decode() -> None:
    old = {b"k": b"report", b"c": b"YZ1", b"v": b"1", b"t": b"5", b"d": b'{"category":"CG-MANHOLE"}'}
    e = decode_entry("5-0", old)
    assert (e.kind, e.case_id, e.version, e.at, e.data) == (REPORT_KIND, "YZ1", 1, 5, {"category": "CG-MANHOLE"})
    assert entry_kind(old) == "report"


@pytest.mark.parametrize("update", [
    Update("YZ1", 3, "signed", 17, actor="张三", role="dept", data={"dept": "CG"}),
    Update("ROOM-330212001", 0, "room.veto", 99),
])
def test_updates_round_trip(update: Update) -> None:
    e = decode_entry("1-0", encode_update(update))
    assert (e.case_id, e.version, e.kind, e.at) == (update.case_id, update.version, update.kind, update.at)
    assert e.data == orjson.loads(orjson.dumps({**update.data, **({"actor": update.actor} if update.actor else {}),
                                               **({"role": update.role} if update.role else {})}))
