"""Fixtures for geo tests: the shipped demo layer and its index (built once), tiny layers."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geo.index import GridIndex
from geo.layer import GridLayer, load_demo_layer, validate_grids


@pytest.fixture(scope="session")
def demo_layer() -> GridLayer:
    return load_demo_layer()


@pytest.fixture(scope="session")
def demo_index(demo_layer: GridLayer) -> GridIndex:
    return GridIndex(demo_layer)


def square_grid_frame(nx: int = 2, ny: int = 2, x0: float = 121.50, y0: float = 29.80, size: float = 0.01):
    """nx × ny square grids tiling a rectangle, ids like 'G00', with a two-level hierarchy."""
    rows, geoms = [], []
    for i in range(nx):
        for j in range(ny):
            rows.append({
                "grid_id": f"G{i}{j}", "grid_name": f"网格{i}{j}", "community_code": f"C{i}",
                "community_name": f"社区{i}", "street_code": "S1", "street_name": "街道一",
                "district_code": "D", "district_name": "区", "synthetic": True,
            })
            geoms.append(shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


@pytest.fixture(scope="session")
def square_layer() -> GridLayer:
    frame, report = validate_grids(square_grid_frame())
    return GridLayer(gdf=frame, report=report, name="squares")


@pytest.fixture(scope="session")
def square_index(square_layer: GridLayer) -> GridIndex:
    return GridIndex(square_layer)
