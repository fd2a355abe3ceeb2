"""A serving process freezes what it built at start-up out of the cyclic collector's sight, and gives it back
when it stops; the test suite's in-process apps (environment "test") leave the collector alone."""

from __future__ import annotations

import gc

import pytest
from asgi_lifespan import LifespanManager

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import Backend

pytestmark = pytest.mark.anyio


async def test_a_serving_app_freezes_its_start_up_objects_until_it_stops(sqlite_backend: Backend) -> None:
    live = sqlite_backend.settings
    background_off = {
        "integrator_interval_seconds": 0,
        "notify_interval_seconds": 0,
        "stats_refresh_seconds": 0,
    }
    settings = Settings(**{**live.model_dump(), "environment": "development", **background_off})
    before = gc.get_freeze_count()
    async with LifespanManager(create_app(settings)):
        frozen = gc.get_freeze_count()
        assert frozen > before + 50_000  # the app, its state and every module loaded for them
        # A full collection no longer walks them: it is far cheaper than walking them.
        assert len(gc.get_objects()) < frozen
    assert gc.get_freeze_count() == 0


async def test_the_test_suites_apps_leave_the_collector_alone(sqlite_backend: Backend) -> None:
    assert sqlite_backend.settings.environment == "test"
    before = gc.get_freeze_count()
    async with LifespanManager(create_app(sqlite_backend.settings)):
        assert gc.get_freeze_count() == before
