"""Wristband tests: the app with notifications going to the loopback fakes (a stop tells people)."""

from __future__ import annotations

import pytest
from sanic import Sanic

from server.settings import Settings
from tests.support.notify_fixtures import app_with_channels


@pytest.fixture
def app(notify_settings: Settings) -> Sanic:
    return app_with_channels(notify_settings)
