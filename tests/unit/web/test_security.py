"""Access: loopback host check, the access token beyond loopback, CSRF on POST, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.web.app import DashboardSettings
from w2t_bkin.web.security import AccessPolicy, check_request, is_loopback

from ._helpers import make_workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "exp", {"m1": ["s1"]})


def test_loopback_addresses() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org")] == [False] * 4


def test_policy_decisions() -> None:
    policy = AccessPolicy("csrf-1")
    ok = {"host": "127.0.0.1:4200"}
    assert check_request(policy, "GET", ok, {}, None) is None
    rebinding = check_request(policy, "GET", {"host": "evil.example:4200"}, {}, None)
    assert rebinding is not None and rebinding.status == 421
    assert check_request(policy, "GET", {"host": "[::1]:4200"}, {}, None) is None
    no_csrf = check_request(policy, "POST", ok, {}, None)
    assert no_csrf is not None and no_csrf.status == 403 and "X-CSRF-Token" in no_csrf.message
    with_csrf = {**ok, "x-csrf-token": "csrf-1"}
    assert check_request(policy, "POST", with_csrf, {}, None) is None
    cross = check_request(policy, "POST", {**with_csrf, "origin": "http://evil.example"}, {}, None)
    assert cross is not None and cross.status == 403 and "evil.example" in cross.message
    same = {**with_csrf, "origin": "http://127.0.0.1:4200"}
    assert check_request(policy, "POST", same, {}, None) is None


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    root: Path, client_for: Any
) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    response = client.post("/api/batches", json={"subject": "m1"})
    assert response.status_code == 403
    assert "X-CSRF-Token" in response.json()["error"]
    assert client.get("/api/batches").json() == []


def test_other_host_header_is_refused(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False), "http://evil.example")
    response = client.get("/api/overview")
    assert response.status_code == 421
    assert "localhost only" in response.json()["error"]


def test_token_is_required_on_every_request_beyond_loopback(root: Path, client_for: Any) -> None:
    settings = DashboardSettings(
        root, access_token="tok-123", loopback_only=False, freshness_sweeps=False
    )
    client = client_for(settings, "http://192.168.1.5:4200")
    for url in ("/", "/api/overview", "/static/app.js", "/api/openapi.json", "/files/data"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert "access token is required" in response.text
    assert client.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        client.get("/api/overview", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    )
    first = client.get("/?token=tok-123")  # the printed URL: sets the cookie
    assert first.status_code == 200
    assert (
        "HttpOnly" in first.headers["set-cookie"]
        and "samesite=strict" in first.headers["set-cookie"].lower()
    )
    assert client.get("/runs").status_code == 200  # the cookie now carries the token


def test_read_only_refuses_actions_and_hides_the_form(root: Path, client_for: Any) -> None:
    settings = DashboardSettings(root, read_only=True, freshness_sweeps=False)
    client = client_for(settings)
    csrf = client.get("/api/info").json()["csrf_token"]
    response = client.post("/api/batches", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403
    assert response.json() == {
        "error": "this dashboard was started with --read-only: actions are disabled",
        "hint": "restart it without --read-only to start or cancel runs",
    }
    page = client.get("/batches").text
    assert 'id="batch-form"' not in page and "This dashboard is read-only" in page
