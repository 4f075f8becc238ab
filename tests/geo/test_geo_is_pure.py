"""Architecture: geo/ is a pure library — it imports no other package of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"feeds", "dashboard", "bench", "tests", "config"}


def _imported_top_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add("<relative>")
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "geo").rglob("*.py")), ids=lambda p: p.name)
def test_geo_module_imports_no_project_package(path: Path) -> None:
    assert not (_imported_top_names(path) & PROJECT_PACKAGES), path


@pytest.mark.parametrize("path", sorted((ROOT / "geo").rglob("*.py")), ids=lambda p: p.name)
def test_geo_module_does_not_talk_to_redis_or_read_the_environment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "redis" not in _imported_top_names(path)
    assert "os.environ" not in text and "os.getenv" not in text


def test_heat_counters_takes_a_client_and_never_imports_redis() -> None:
    assert not (_imported_top_names(ROOT / "feeds" / "heat_counters.py") & {"redis", "valkey", "dashboard"})
