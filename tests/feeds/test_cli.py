"""``python -m feeds``: the commands run as a user would run them, against the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.feeds.factories import report

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LA_FILE = ROOT.parent / "shared" / "data" / "la_myla311_10k_2020-01-01_to_01-03.csv.gz"


def feeds(settings, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": settings.redis_url, "GOV_NAMESPACE": settings.namespace,
           "GOV_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "feeds", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_stats_and_dead_letters_show_counts_and_reasons(settings, ingestor) -> None:
    ingestor.ingest([report(source_id="C1"), report(lon=999, lat=999),
                     {"channel": "grid_app", "source_id": "x", "reporter": {"phone": "13812345678"}}])
    out = feeds(settings, "stats")
    assert out.returncode == 0, out.stderr
    assert "1 entries, 1 cases" in out.stdout and "coordinates_out_of_range" in out.stdout
    out = feeds(settings, "stats", "--json")
    stats = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert stats["log_entries"] == 1 and stats["dead_letters"] == 2 and stats["kinds"] == {"report": 1}
    out = feeds(settings, "dead-letters", "--limit", "5", "--raw")
    assert out.returncode == 0, out.stderr
    assert "missing_field: reported_at" in out.stdout and "coordinates_out_of_range" in out.stdout
    assert "13812345678" not in out.stdout and "138****5678" in out.stdout  # masked for the terminal


def test_replay_prints_accepted_and_rejected_with_reasons(settings) -> None:
    out = feeds(settings, "--namespace", settings.namespace, "replay", str(LA_FILE),
                "--mapping", "config/mappings/la311.json", "--max", "200", "--no-progress", "--json")
    assert out.returncode == 0, out.stderr
    assert "reports: accepted 200" in out.stdout and "rejected 0" in out.stdout
    summary = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 200 and summary["status"]["reports:accepted"] == 200


def test_a_bad_mapping_file_is_a_clear_error(settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": {"channel": "c"}}')
    out = feeds(settings, "replay", str(LA_FILE), "--mapping", str(bad))
    assert out.returncode == 2 and "fields.source_id is required" in out.stderr
