"""Train the zstd dictionary case states are stored with (``feeds.supervision.statecodec``).

    python -m tools.train_state_dict [--days 45] [--id N]

Runs the demo district through the product's own path — the simulator's backfill into the
ingest, the supervision worker over the log, on an embedded server in a temporary folder — and
trains a dictionary on the case states the worker stored, sampled at several points of their
lives (open cases are caught mid-way, not only closed ones). The benchmarks' synthetic log
(``feeds.supervision.synthetic``) is deliberately not a source, so the supervision benchmark
measures compression on states the dictionary has not seen.

A shipped dictionary is never replaced: the new one is written as ``state-<id>.zdict`` beside the
others and becomes the one new states are written with; the old ones still decode what they wrote.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
import zstandard

from feeds.clock import ManualClock
from feeds.ingest import Ingestor
from feeds.normalise import load_locator
from feeds.settings import Settings
from feeds.simulator import run_simulator
from feeds.store import Store
from feeds.supervision.statecodec import DICT_DIR, LEVEL, StateCodec
from feeds.supervision.worker import Worker

DICT_SIZE = 16_384


def sample_states(days: float, checkpoints: int = 4) -> list[bytes]:
    """Plain-JSON case states of a simulated district, read after each of ``checkpoints`` parts."""
    samples: list[bytes] = []
    plain = StateCodec()  # no dictionary: the worker stores plain JSON for the samples
    end = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), namespace="dict", demo=False)
        with Store(settings) as store:
            ingestor = Ingestor.from_store(store, locator=load_locator(settings))
            step = days / checkpoints
            for i in range(checkpoints):
                upto = end - int((checkpoints - 1 - i) * step * 86_400_000)
                run_simulator(ingestor, settings, backfill_days=step * (i + 1), live=False, now=upto, seed=7)
                Worker(store, clock=ManualClock(upto), consumer="dict", codec=plain).drain()
                for key in store.client.scan_iter(match=store.keys.case("*"), count=5000):
                    raw = store.client.get(key)
                    if raw:
                        samples.append(orjson.dumps(plain.decode(raw)))
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.train_state_dict", description=__doc__.splitlines()[0])
    p.add_argument("--days", type=float, default=45.0, help="simulated days (default 45)")
    p.add_argument("--id", type=int, default=None, help="dictionary id (default: one above the newest shipped)")
    p.add_argument("--out", type=Path, default=DICT_DIR)
    args = p.parse_args(argv)
    shipped = sorted(int(f.stem.split("-", 1)[1]) for f in args.out.glob("state-*.zdict"))
    n = args.id or (shipped[-1] + 1 if shipped else 1)
    if n in shipped:
        raise SystemExit(f"state-{n}.zdict is shipped already: a dictionary is never replaced")
    samples = sample_states(args.days)
    # zstd reserves ids below 32,768 for registered dictionaries: private ones live above
    d = zstandard.train_dictionary(DICT_SIZE, samples, dict_id=32_768 + n, level=LEVEL, threads=1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"state-{n}.zdict"
    path.write_bytes(d.as_bytes())
    codec = StateCodec([d.as_bytes()])
    raw = sum(map(len, samples))
    packed = sum(len(codec.encode(orjson.loads(s))) for s in samples)
    print(f"{path}: {len(samples)} states, {raw / len(samples):.0f} B each as JSON, "
          f"{packed / len(samples):.0f} B compressed ({raw / packed:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
