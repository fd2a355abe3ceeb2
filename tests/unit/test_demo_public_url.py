"""``gongyu demo --port N``: the links the demo writes (mail, approve_url, sandbox agencies) follow the port
unless ``GONGYU_PUBLIC_URL`` says otherwise (issue 12 leftovers, item 5). The end-to-end proof is the mail
link in ``tests/integration/test_notification_tour.py``, which runs a demo on a free port without the setting.
"""

from __future__ import annotations

import os

import pytest

from hub.cli.serve import demo_public_url
from hub.settings import Settings


def test_the_public_url_follows_the_demo_port_and_reaches_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GONGYU_PUBLIC_URL", "")  # unset in effect; restored after the test
    assert demo_public_url("127.0.0.1", 8123, os.environ) == "http://127.0.0.1:8123"
    assert Settings().public_url == "http://127.0.0.1:8123"  # what the served app (uvicorn's factory) reads


def test_a_wildcard_listen_address_is_reached_through_loopback() -> None:
    assert demo_public_url("0.0.0.0", 9001, {}) == "http://127.0.0.1:9001"
    assert demo_public_url("::", 9002, {}) == "http://[::1]:9002"
    assert demo_public_url("localhost", 9003, {}) == "http://localhost:9003"


def test_a_set_public_url_wins_over_the_port() -> None:
    environ = {"GONGYU_PUBLIC_URL": "https://hub.example.kr"}
    assert demo_public_url("127.0.0.1", 8123, environ) == "https://hub.example.kr"
    assert environ == {"GONGYU_PUBLIC_URL": "https://hub.example.kr"}
