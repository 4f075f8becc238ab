"""Architecture rules that keep the code base in the shape ARCHITECTURE.md describes."""

from __future__ import annotations

import ast
import json
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


def test_every_trace_type_the_screens_build_is_in_the_plotly_bundle() -> None:
    """The screens load a partial plotly.js (tools/plotly-bundle/entry.js): a trace type it does
    not register would draw nothing. Every ``go.<Trace>`` the dashboard builds must be in it."""
    import re

    entry = (ROOT / "tools" / "plotly-bundle" / "entry.js").read_text(encoding="utf-8")
    bundled = {"scatter"} | set(re.findall(r"require\('plotly\.js/lib/(\w+)'\)", entry))
    used: set[str] = set()
    for p in [*_modules("dashboard"), ROOT / "bench" / "screens.py"]:
        used |= {m.lower() for m in re.findall(r"\bgo\.([A-Z]\w*)\(", p.read_text(encoding="utf-8"))}
    used -= {"figure"}
    assert used, "no trace found: the test would check nothing"
    assert used <= bundled, f"not in the bundle: {sorted(used - bundled)}"


def test_the_plotly_bundle_is_the_plotly_js_of_the_installed_plotly_package() -> None:
    """Figures are serialised by the Python package for its own plotly.js version."""
    from plotly.offline import get_plotlyjs_version

    head = (ROOT / "assets" / "vendor" / "plotly-screens.min.js").read_bytes()[:200].decode()
    pinned = json.loads((ROOT / "tools" / "plotly-bundle" / "package.json").read_text())["dependencies"]["plotly.js"]
    assert f"plotly.js v{get_plotlyjs_version()} " in head
    assert pinned == get_plotlyjs_version()
