"""Fixtures of the feeds tests: the demo jurisdiction's grid locator and an ingestor on it."""

from __future__ import annotations

import pytest

from feeds.ingest import Ingestor
from feeds.normalise import GridLocator, load_locator
from feeds.settings import Settings


@pytest.fixture(scope="session")
def locator(tmp_path_factory: pytest.TempPathFactory) -> GridLocator:
    """The synthetic Yinzhou grid index (built once per session, ~1 s)."""
    loc = load_locator(Settings(data_dir=tmp_path_factory.mktemp("gridcache")))
    assert isinstance(loc, GridLocator), "geo's grid index must load for the feeds tests"
    return loc


@pytest.fixture
def ingestor(store, locator) -> Ingestor:
    return Ingestor.from_store(store, locator=locator)
