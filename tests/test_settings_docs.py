"""Every setting is documented in the README, and the README names no unknown setting."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from feeds.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_has_an_env_name_and_a_doc() -> None:
    for f in fields(Settings):
        assert f.metadata.get("env"), f.name
        assert f.metadata.get("doc"), f.name


def test_readme_documents_every_environment_variable() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [f.metadata["env"] for f in fields(Settings) if f"`{f.metadata['env']}`" not in text]
    assert missing == []


def test_readme_names_no_unknown_environment_variable() -> None:
    text = README.read_text(encoding="utf-8")
    known = {f.metadata["env"] for f in fields(Settings)}
    named = set(re.findall(r"`((?:GOV_|REDIS_)[A-Z0-9_]+)`", text))
    assert named <= known, named - known


def test_environment_values_are_parsed_to_their_types(tmp_path: Path) -> None:
    s = Settings.from_env({"REDIS_URL": "redis://x:1/0", "GOV_H3_RES": "9", "GOV_DEMO": "0",
                           "GOV_DATA_DIR": str(tmp_path), "GOV_DEDUP_RADIUS_M": "500"})
    assert s.redis_url == "redis://x:1/0"
    assert s.h3_resolution == 9 and s.demo is False
    assert s.data_dir == tmp_path and s.dedup_radius_m == 500.0
    assert Settings.from_env({}).redis_url is None


def test_readme_defaults_match_the_settings_defaults() -> None:
    """The table's default column must not drift from the code (paths and unset values aside)."""
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", text, flags=re.M))
    wrong = {}
    for f in fields(Settings):
        default = f.default
        name = f.metadata["env"]
        if name not in rows or not isinstance(default, bool | int | float | str):
            continue
        expected = ("1" if default else "0") if isinstance(default, bool) else \
            (f"{default:g}" if isinstance(default, float) else str(default))
        if rows[name] != expected:
            wrong[name] = (rows[name], expected)
    assert wrong == {}


def test_a_relative_data_dir_is_made_absolute_against_the_callers_cwd(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Flask serves files relative to its package, not the cwd: a relative GOV_DATA_DIR once made
    # the wall's GeoJSON answer 404 while everything else worked
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"GOV_DATA_DIR": "var/x"}).data_dir == tmp_path / "var" / "x"
