"""How a case state is stored under its case key: JSON, compressed by zstd with a shipped dictionary.

Why compressed: a state is ~2.5 kB of JSON whose keys and values repeat from case to case
(clock and alert field names, stage names, "system"). The worker writes every touched case back
and reads it again (MGET) in the next batch that touches it, so the server parsed, stored, logged
(AOF) and sent back ~12 MB per 5,000-entry batch; its MULTI/EXEC was most of the time the worker
waited. With a dictionary trained on the demo district's states (``python -m tools.train_state_dict``),
level-1 zstd makes a state ~6× smaller (2,456 → 399 B on the benchmark's states) for ~7–9 µs of
compression in the worker, which still spends less CPU per transition than with plain JSON (less
to send, receive and compare); a district-year of cases (~440,000) needs ~140 MB of server memory
instead of ~1.1 GB.

Why a dictionary, fixed once shipped: a state is too small to compress well on its own (zstd
without one: ~2.8×). A frame names its dictionary (its id), so a new dictionary is added as a new
file beside the old ones and never replaces one: states written with an older dictionary stay
readable. Plain JSON (written before compression, by hand, or with no dictionary shipped) is read
as it is: a zstd frame starts with its magic number, a JSON object with ``{``.

Encoding is deterministic for a given zstd build, so the worker can compare the bytes it wrote
with the bytes it reads back (its cache check).
"""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import zstandard

DICT_DIR = Path(__file__).resolve().parent / "statedicts"  # part of the storage format, not configuration
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 1


class StateCodec:
    """Encode/decode case states; ``dictionaries`` in the order they were shipped (the last one encodes).

    Thread-safe: zstd contexts are per thread (a context may not be used by two threads at once).
    """

    def __init__(self, dictionaries: list[bytes] | None = None) -> None:
        self._dicts = {}
        self._encode_dict: zstandard.ZstdCompressionDict | None = None
        for data in dictionaries or []:
            d = zstandard.ZstdCompressionDict(data)
            if d.dict_id() == 0:
                raise ValueError("a state dictionary needs an id (zstd raw content dictionaries are refused)")
            d.precompute_compress(level=LEVEL)
            self._dicts[d.dict_id()] = d
            self._encode_dict = d
        self._local = threading.local()

    @classmethod
    def shipped(cls, folder: Path = DICT_DIR) -> StateCodec:
        """The dictionaries in ``folder`` (``state-<n>.zdict``, in the order of ``n``)."""
        files = sorted(folder.glob("state-*.zdict"), key=lambda p: int(p.stem.split("-", 1)[1]))
        return cls([p.read_bytes() for p in files])

    @property
    def dict_id(self) -> int | None:
        """Id of the dictionary new states are written with (None: plain JSON)."""
        return self._encode_dict.dict_id() if self._encode_dict is not None else None

    def _compressor(self) -> zstandard.ZstdCompressor:
        c = getattr(self._local, "c", None)
        if c is None:
            c = self._local.c = zstandard.ZstdCompressor(level=LEVEL, dict_data=self._encode_dict,
                                                         write_checksum=False, write_content_size=True,
                                                         write_dict_id=True)
        return c

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache = getattr(self._local, "d", None)
        if cache is None:
            cache = self._local.d = {}
        d = cache.get(dict_id)
        if d is None:
            data = self._dicts.get(dict_id) if dict_id else None
            if dict_id and data is None:
                raise ValueError(f"case state compressed with an unknown dictionary (id {dict_id}); "
                                 f"known: {sorted(self._dicts)}")
            d = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=data)
        return d

    def encode(self, state: dict) -> bytes:
        raw = orjson.dumps(state)
        if self._encode_dict is None:
            return raw
        return self._compressor().compress(raw)

    def decode(self, raw: bytes | str | None) -> dict | None:
        """The state behind ``raw`` (zstd frame or plain JSON); None for a missing key."""
        if not raw:
            return None
        if isinstance(raw, bytes) and raw[:4] == ZSTD_MAGIC:
            dict_id = zstandard.get_frame_parameters(raw).dict_id
            return orjson.loads(self._decompressor(dict_id).decompress(raw))
        return orjson.loads(raw)


_shipped: StateCodec | None = None
_lock = threading.Lock()


def shipped_codec() -> StateCodec:
    """The codec of the shipped dictionaries, loaded once per process."""
    global _shipped
    if _shipped is None:
        with _lock:
            if _shipped is None:
                _shipped = StateCodec.shipped()
    return _shipped


def decode_state(raw: bytes | str | None) -> dict | None:
    """A stored case state as a dict (None for a missing key): what every reader of case keys uses."""
    return shipped_codec().decode(raw)
