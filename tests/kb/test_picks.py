"""Customers' picks among suggested titles: candidates for editors, added as question variants, calibration evidence."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core.db import transaction
from core.web.keys import SESSIONS
from kb import picks
from kb.keys import KNOWLEDGE_BASE
from tests.kb.test_web import ARTICLE, LOGINS, _json, client
from tests.support.staff import csrf_headers as sign_in

__all__ = ["client"]  # the fixture, shared with the editors' API tests


async def _published(client: TestClient[Any, Any], csrf: dict[str, str]) -> dict[str, Any]:
    created = await _json(await client.post("/api/kb/articles", json=ARTICLE, headers=csrf), 201)
    return dict(
        await _json(
            await client.post(f"/api/kb/articles/{created['id']}/publish", json={"version": 1}, headers=csrf), 200
        )
    )


async def test_picks_become_candidates_an_editor_accepts_into_the_articles_questions(
    client: TestClient[Any, Any],
) -> None:
    csrf = await sign_in(client, "editor", LOGINS)
    article = await _published(client, csrf)
    kb = client.server.app[KNOWLEDGE_BASE]
    for text in ["пульт тыкаю а приставка ноль", "Пульт тыкаю а  приставка ноль", "пульт сдох"]:
        await kb.record_pick(text, "ru", article["id"], "telegram", None)
    await kb.record_pick("🙂🙂", "ru", article["id"], "telegram", None)  # no words: no evidence

    listed = await _json(await client.get(f"/api/kb/articles/{article['id']}/candidates"), 200)
    assert [(c["text"], c["count"]) for c in listed["items"]] == [
        ("Пульт тыкаю а приставка ноль", 2),  # the same words, case and spacing aside, count together
        ("пульт сдох", 1),
    ]
    first = listed["items"][0]

    stale = {"pick_ids": first["pick_ids"], "version": article["version"] - 1}
    conflict = await client.post(f"/api/kb/articles/{article['id']}/candidates/accept", json=stale, headers=csrf)
    assert conflict.status == 409, "accepting over a newer version is refused like any edit"

    body = {"pick_ids": first["pick_ids"], "version": article["version"]}
    accepted = await _json(
        await client.post(f"/api/kb/articles/{article['id']}/candidates/accept", json=body, headers=csrf), 200
    )
    assert accepted["questions"][-1] == "Пульт тыкаю а приставка ноль"
    assert accepted["version"] == article["version"] + 1

    preview = await _json(
        await client.post("/api/kb/preview", json={"question": "пульт тыкаю а приставка ноль"}, headers=csrf), 200
    )
    assert preview["hits"][0]["article_id"] == article["id"], "the customers' words are searchable at once"

    second = (await _json(await client.get(f"/api/kb/articles/{article['id']}/candidates"), 200))["items"]
    assert [c["text"] for c in second] == ["пульт сдох"]
    dismissed = await client.post(
        f"/api/kb/articles/{article['id']}/candidates/dismiss", json={"pick_ids": second[0]["pick_ids"]}, headers=csrf
    )
    assert (await _json(dismissed, 200))["dismissed"] == 1
    assert (await _json(await client.get(f"/api/kb/articles/{article['id']}/candidates"), 200))["items"] == []

    async with transaction(client.server.app[SESSIONS]) as session:
        evidence = await picks.labelled_picks(session)
    # the accepted picks are calibration evidence, the dismissed one is not
    assert sorted(t for t, _lang, _a in evidence) == ["Пульт тыкаю а приставка ноль", "пульт тыкаю а приставка ноль"]


async def test_candidates_refuse_unknown_articles_foreign_picks_and_operators(client: TestClient[Any, Any]) -> None:
    csrf = await sign_in(client, "editor", LOGINS)
    article = await _published(client, csrf)
    missing = await client.get("/api/kb/articles/999999/candidates")
    assert missing.status == 404
    wrong = await client.post(
        f"/api/kb/articles/{article['id']}/candidates/dismiss", json={"pick_ids": [424242]}, headers=csrf
    )
    assert wrong.status == 422
    empty = await client.post(
        f"/api/kb/articles/{article['id']}/candidates/dismiss", json={"pick_ids": []}, headers=csrf
    )
    assert empty.status == 422
    await client.post("/logout", headers=csrf)
    op_csrf = await sign_in(client, "operator", LOGINS)
    refused = await client.get(f"/api/kb/articles/{article['id']}/candidates", headers=op_csrf)
    assert refused.status == 403
