"""Staff sign-in through the real login form, for tests that call the staff JSON API as a signed-in user."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp.test_utils import TestClient

from bot.demo import DEMO_ACCOUNTS

DEMO_LOGINS: Mapping[str, tuple[str, str]] = {a.role: (a.login, a.password) for a in DEMO_ACCOUNTS}
"""Role → (login, password) of the demo staff that ``frontline demo load`` creates."""


async def form_csrf(client: TestClient[Any, Any]) -> str:
    """The CSRF token the login page carries in its form."""
    page = await (await client.get("/login")).text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the login page carries a CSRF token"
    return match.group(1)


async def sign_in(client: TestClient[Any, Any], role: str, logins: Mapping[str, tuple[str, str]] = DEMO_LOGINS) -> str:
    """Sign in through the real form as the account of ``role``; return the CSRF token for JSON calls."""
    login, password = logins[role]
    token = await form_csrf(client)
    response = await client.post(
        "/login", data={"login": login, "password": password, "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 302, await response.text()
    me = await client.get("/api/me")
    assert me.status == 200
    return str((await me.json())["csrf_token"])


async def csrf_headers(
    client: TestClient[Any, Any], role: str, logins: Mapping[str, tuple[str, str]] = DEMO_LOGINS
) -> dict[str, str]:
    """Sign in (see :func:`sign_in`) and return the headers a state-changing JSON call needs."""
    return {"X-CSRF-Token": await sign_in(client, role, logins)}
