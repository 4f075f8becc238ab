"""Routing (流转交办) from data: the responsibility list decides *who*, locality decides *where*.

The owner of a case is its category's department from ``config/categories.json``; a category
with no owner (``dept: null``), or one the catalog does not know, goes to the street's command
room (``catalog.room_code(street)``) for manual dispatch. Locality is grid → community → street:
ingest fills the codes; when a report has a grid but lacks the community or street, the
optional ``grid_lookup`` (grid id -> (community code, street code)) fills them. A case with no
street at all goes to the district centre's room (``room_code(<district code>)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from feeds.catalog import Catalog, room_code

GridLookup = Callable[[str], "tuple[str, str] | None"] | Mapping[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Locality:
    grid: str
    community: str
    street: str


class Router:
    """Pure routing decisions over the catalog tables."""

    def __init__(self, catalog: Catalog, district_code: str, grid_lookup: GridLookup | None = None) -> None:
        self.catalog = catalog
        self.district_code = district_code
        self._lookup = grid_lookup

    def locality(self, grid: str, community: str, street: str) -> Locality:
        if grid and (not community or not street) and self._lookup is not None:
            found = (self._lookup.get(grid) if isinstance(self._lookup, Mapping) else self._lookup(grid))
            if found:
                community = community or found[0]
                street = street or found[1]
        return Locality(grid or "", community or "", street or "")

    def room_for(self, street: str) -> str:
        """The command room that dispatches by hand: the street's, or the district centre's."""
        return room_code(street or self.district_code)

    def owner(self, category: str, street: str) -> str:
        """Department code that takes a new case of ``category`` in ``street``."""
        cat = self.catalog.categories.get(category)
        if cat is not None and cat.dept:
            return cat.dept
        return self.room_for(street)

    @staticmethod
    def is_room(dept: str) -> bool:
        return dept.startswith("ROOM-")
