"""Architecture rules that keep the code base in the shape ARCHITECTURE.md describes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["geo", "feeds", "dashboard", "bench"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("geo"), ids=lambda p: str(p.relative_to(ROOT)))
def test_geo_imports_no_project_package(path: Path) -> None:
    assert not (_imports(path) & {"feeds", "dashboard", "bench", "tests"})


@pytest.mark.parametrize("path", _modules("feeds"), ids=lambda p: str(p.relative_to(ROOT)))
def test_feeds_never_imports_the_dashboard(path: Path) -> None:
    assert "dashboard" not in _imports(path)


@pytest.mark.parametrize("package", ["geo", "feeds", "dashboard"])
def test_only_the_store_module_imports_redis(package: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _modules(package)
                 if "redis" in _imports(p) and p != ROOT / "feeds" / "store.py"]
    assert offenders == []


def test_no_module_reads_the_environment_outside_settings() -> None:
    allowed = {ROOT / "feeds" / "settings.py"}
    offenders = []
    for package in ["geo", "feeds", "dashboard"]:
        for p in _modules(package):
            if p in allowed:
                continue
            text = p.read_text(encoding="utf-8")
            if "os.environ" in text or "os.getenv" in text:
                offenders.append(str(p.relative_to(ROOT)))
    assert offenders == []


def test_no_internet_urls_in_served_assets() -> None:
    """The hall is offline: nothing the browser loads may point at a CDN."""
    served = list((ROOT / "assets").rglob("*"))
    assert any(p.suffix == ".js" for p in served), "no served assets found: the test would check nothing"
    offenders = []
    for p in served:
        if p.suffix in {".js", ".css", ".html"} and "vendor" not in p.parts:
            text = p.read_text(encoding="utf-8", errors="replace")
            for marker in ("https://", "http://cdn", "//cdn.", "fonts.googleapis"):
                if marker in text:
                    offenders.append(f"{p.relative_to(ROOT)}: {marker}")
    assert offenders == []
