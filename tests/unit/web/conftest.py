"""Fixtures of the dashboard tests: a TestClient on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def client_for() -> Iterator[Any]:
    """``client_for(settings)``: a TestClient on 127.0.0.1 (closed after the test)."""
    from fastapi.testclient import TestClient

    from w2t_bkin.web.app import create_app

    clients: list[Any] = []

    def make(settings: Any, base_url: str = "http://127.0.0.1") -> Any:
        client = TestClient(create_app(settings), base_url=base_url)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
