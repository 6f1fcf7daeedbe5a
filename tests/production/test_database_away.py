"""While the database is away the API and the pages say so (503, retry), and they work again when it is back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.web.errors import database_unavailable
from tests.support.stacks import running_stack
from tests.support.staff import sign_in
from tests.support.tcp import Relay


@pytest.mark.postgres
async def test_staff_are_told_the_database_is_unavailable_and_served_again_once_it_returns(
    postgres_url: str, tmp_path: Path
) -> None:
    target = make_url(postgres_url)
    relay = Relay(target.host or "127.0.0.1", target.port or 5432)
    await relay.start()
    url = target.set(port=relay.port).render_as_string(hide_password=False)
    try:
        await _cut_and_restore(relay, url, tmp_path)
    finally:
        await relay.cut()


async def _cut_and_restore(relay: Relay, url: str, tmp_path: Path) -> None:
    async with running_stack(url, tmp_path) as stack:
        client = stack.client
        await sign_in(client, "operator")
        assert (await client.get("/api/inbox/conversations")).status == 200

        await relay.cut()
        api = await client.get("/api/inbox/conversations")
        assert api.status == 503
        assert api.headers["Retry-After"] == "5"
        assert (await api.json())["error"]["code"] == "database_unavailable"
        page = await client.get("/inbox?lang=en", headers={"Accept": "text/html"})
        assert page.status == 503
        html = await page.text()
        assert "The database cannot be reached right now, so nothing was changed." in html
        assert 'http-equiv="refresh"' in html  # a GET page reloads itself
        assert "Traceback" not in html
        page_ru = await client.get("/inbox?lang=ru", headers={"Accept": "text/html"})
        assert "База данных сейчас недоступна" in await page_ru.text()

        await relay.start()  # the same port: the pool's next connection reaches the database again
        assert (await client.get("/api/inbox/conversations")).status == 200


def test_a_network_error_outside_the_database_driver_is_not_reported_as_the_database() -> None:
    # A failed call to, say, the Rasa server is a fault of ours to log (500), not "retry, the database restarts".
    with pytest.raises(ConnectionRefusedError) as caught:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5005)")
    assert not database_unavailable(caught.value)
