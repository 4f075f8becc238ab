"""The category, department and channel tables, loaded from ``config/`` (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    group: str
    board: str
    dept: str | None  # None: no owner, manual dispatch by the street's command room
    level: int
    share: float


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str
    short: str
    kind: str


@dataclass(frozen=True, slots=True)
class Channel:
    code: str
    name: str
    kind: str


def room_code(street_code: str) -> str:
    """Department code of a street's comprehensive information command room (综合信息指挥室)."""
    return f"ROOM-{street_code}"


@dataclass(frozen=True)
class Catalog:
    categories: dict[str, Category]
    departments: dict[str, Department]
    channels: dict[str, Channel]

    @classmethod
    def load(cls, config_dir: Path) -> Catalog:
        cats = orjson.loads((config_dir / "categories.json").read_bytes())["categories"]
        depts = orjson.loads((config_dir / "departments.json").read_bytes())["departments"]
        chans = orjson.loads((config_dir / "channels.json").read_bytes())["channels"]
        catalog = cls(
            categories={c["code"]: Category(**c) for c in cats},
            departments={d["code"]: Department(**d) for d in depts},
            channels={c["code"]: Channel(**c) for c in chans},
        )
        catalog._check()
        return catalog

    def _check(self) -> None:
        for c in self.categories.values():
            if c.dept is not None and c.dept not in self.departments:
                raise ValueError(f"category {c.code} names unknown department {c.dept!r}")
            if not 1 <= c.level <= 4:
                raise ValueError(f"category {c.code} has level {c.level}; expected 1-4")

    def category_name(self, code: str) -> str:
        c = self.categories.get(code)
        return c.name if c else code

    def department_name(self, code: str, street_names: dict[str, str] | None = None) -> str:
        d = self.departments.get(code)
        if d:
            return d.name
        if code.startswith("ROOM-"):
            street = (street_names or {}).get(code[5:], code[5:])
            return f"{street}综合信息指挥室"
        return code

    def channel_name(self, code: str) -> str:
        c = self.channels.get(code)
        return c.name if c else code
