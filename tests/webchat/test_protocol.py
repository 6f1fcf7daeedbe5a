"""The widget's WebSocket protocol against the whole running stack (real sockets, real engine, both databases)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType
from sqlalchemy import select

from bot.channels.web.keys import WEBCHAT
from bot.channels.web.visitors import token_visitor, visitor_token
from core.models import Channel, DeliveryState, Direction, Identity, Message
from core.security import sign_token
from core.web.keys import SESSIONS
from tests.webchat.conftest import Chat, new_cid, signed_user

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_a_question_is_stored_numbered_and_answered_with_rendered_markdown(chat: Chat) -> None:
    widget = await chat.widget(lang="ru")
    assert widget.token
    shown = await widget.say("как поменять пароль от вайфая?")
    assert shown["author"] == "customer"
    assert shown["seq"] == 1
    assert shown["text"] == "как поменять пароль от вайфая?"
    replies = await chat.replies(widget, shown)
    assert replies
    assert [r["seq"] for r in replies] == list(range(2, 2 + len(replies)))
    answer = next(r for r in replies if "html" in r)
    assert "пароль" in answer["text"].lower()
    assert "<" in answer["html"]
    assert any(b["label"] for r in replies for b in r["buttons"]), "the answer asks whether it helped, with buttons"
    await chat.settle()
    states = await chat.delivered(shown["conversation"])
    assert set(states.values()) == {DeliveryState.SENT}, "acknowledged replies are delivered"
    await widget.close()


async def test_a_resent_client_id_is_stored_once_and_a_reused_one_is_refused(chat: Chat) -> None:
    widget = await chat.widget()
    cid = new_cid()
    first = await widget.say("здравствуйте", cid=cid)
    again = await widget.say("здравствуйте", cid=cid)
    assert again["seq"] == first["seq"]
    await widget.send({"type": "message", "cid": cid, "text": "совсем другой текст"})
    refused = await widget.until(lambda f: f["type"] == "error")
    assert refused["code"] == "cid_reused"
    assert refused["cid"] == cid
    await chat.settle()
    stored = await chat.rows(Message.channel == Channel.WEB, Message.channel_message_id == cid)
    assert [m.text for m in stored] == ["здравствуйте"]
    await widget.close()


async def test_a_visitor_who_was_away_gets_the_replies_on_return_and_they_become_delivered(chat: Chat) -> None:
    widget = await chat.widget()
    shown = await widget.say("как поменять пароль от вайфая?")
    token = widget.token
    await widget.close()  # gone before the bot answers
    await chat.settle()
    states = await chat.states(shown["conversation"])
    assert states
    assert DeliveryState.SENT not in states.values(), "nobody acknowledged them yet"
    back = await chat.widget(token=token, conversation=shown["conversation"], seq=shown["seq"])
    replies: dict[int, dict[str, object]] = {}
    while len(replies) < len(states):  # the outbox may send one the catch-up sent too: the widget keys by number
        frame = await back.until(lambda f: f["type"] == "message")
        assert frame["seq"] > shown["seq"], "only what the widget had not shown is sent"
        replies[frame["seq"]] = frame
    assert sorted(replies) == sorted(states)
    await back.send({"type": "ack", "conversation": shown["conversation"], "seqs": sorted(replies)})
    assert set((await chat.delivered(shown["conversation"])).values()) == {DeliveryState.SENT}
    await back.close()


async def test_a_reload_gets_the_whole_history_and_a_second_tab_sees_everything(chat: Chat) -> None:
    first = await chat.widget()
    said = await first.say("как поменять пароль от вайфая?")
    await chat.replies(first, said)
    second = await chat.widget(token=first.token)  # a reload or another tab: same token, nothing shown yet
    history = [await second.until(lambda f: f["type"] == "message") for _ in range(first.seq)]
    assert [f["seq"] for f in history] == list(range(1, first.seq + 1))
    assert history[0]["cid"] == said["cid"]
    live = await first.say("спасибо")
    echoed = await second.until(lambda f: f.get("cid") == live["cid"])
    assert echoed["seq"] == live["seq"], "the other tab shows the message typed in this one"
    reply = await second.until(lambda f: f["type"] == "message" and f["author"] == "bot")
    assert reply["seq"] > live["seq"]
    await first.close()
    await second.close()


async def test_typing_and_article_suggestions(chat: Chat) -> None:
    widget = await chat.widget(lang="en")
    await widget.send({"type": "suggest", "q": "change wifi password"})
    found = await widget.until(lambda f: f["type"] == "suggestions")
    assert found["articles"]
    assert all(a["url"].startswith("/help/") for a in found["articles"])
    await widget.send({"type": "typing", "on": True})
    await widget.say("hello")
    await widget.until(lambda f: f["type"] == "typing" and f["on"] is True)
    await widget.until(lambda f: f["type"] == "typing" and f["on"] is False)
    await widget.close()


async def test_html_and_script_are_stored_and_shown_as_text(chat: Chat) -> None:
    widget = await chat.widget()
    text = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    shown = await widget.say(text)
    assert shown["text"] == text
    assert "html" not in shown, "a customer's message is never sent as markup"
    await widget.close()


# --- identity -----------------------------------------------------------------------------------------


async def test_forged_and_expired_tokens_are_refused_and_give_a_new_visitor(chat: Chat) -> None:
    secret = chat.stack.app[WEBCHAT].engine.settings.secret
    owner = await chat.widget()
    await owner.say("мой вопрос")
    victim = token_visitor(secret, "demo", owner.token)
    assert victim
    forged = owner.token.split(".")[0] + ".AAAA"
    expired = sign_token(secret, {"kind": "visitor", "site": "demo", "vid": victim}, ttl=-10)
    other_site = visitor_token(secret, "elsewhere", victim)
    for bad in (forged, expired, other_site, "garbage"):
        widget = await chat.connect()
        await widget.send({"type": "hello", "token": bad})
        refused = await widget.until(lambda f: f["type"] == "error")
        assert refused["code"] == "bad_token"
        welcome = await widget.until(lambda f: f["type"] == "welcome")
        assert token_visitor(secret, "demo", welcome["token"]) != victim
        await widget.send({"type": "ping"})
        frame = await widget.until(lambda f: f["type"] in ("message", "pong"))
        assert frame["type"] == "pong", "nothing of the other visitor's conversation is sent"
        await widget.close()
    await owner.close()


async def test_a_signed_user_is_linked_and_a_wrong_or_stale_signature_is_refused(chat: Chat) -> None:
    secret = chat.stack.app[WEBCHAT].engine.settings.secret
    anonymous = await chat.widget()
    said = await anonymous.say("вопрос до входа")
    await chat.settle()
    signed = await chat.widget(token=anonymous.token, user=signed_user("client-42"))
    assert token_visitor(secret, "demo", signed.token) == "u:demo:client-42"
    before = await signed.until(lambda f: f["type"] == "message")
    assert before["cid"] == said["cid"], "the conversation before signing in stays the customer's"
    async with chat.stack.app[SESSIONS]() as session:
        owners = set(
            (
                await session.execute(
                    select(Identity.customer_id).where(
                        Identity.external_id.in_([token_visitor(secret, "demo", anonymous.token), "u:demo:client-42"])
                    )
                )
            ).scalars()
        )
    assert len(owners) == 1
    wrong = signed_user("client-43")
    wrong["sig"] = signed_user("client-44")["sig"]
    stale = signed_user("client-43", ts=int(time.time()) - 3600)
    for user, code in ((wrong, "bad_signature"), (stale, "stale_signature")):
        widget = await chat.connect()
        await widget.send({"type": "hello", "user": user})
        assert (await widget.until(lambda f: f["type"] == "error"))["code"] == code
        welcome = await widget.until(lambda f: f["type"] == "welcome")
        assert token_visitor(secret, "demo", welcome["token"]) != "u:demo:client-43"
        await widget.close()
    await anonymous.close()
    await signed.close()


async def test_an_origin_off_the_list_and_an_unknown_site_are_refused_before_the_upgrade(chat: Chat) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await chat.connect(origin="https://evil.example")
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as unknown:
        await chat.connect(site="nosuchsite")
    assert unknown.value.status == 404


# --- bad frames ---------------------------------------------------------------------------------------


async def test_bad_frames_get_clear_errors_and_the_socket_stays_usable(chat: Chat) -> None:
    widget = await chat.connect()
    await widget.send({"type": "message", "cid": new_cid(), "text": "до приветствия"})
    assert (await widget.recv())["code"] == "hello_first"
    await widget.hello()
    cases = [
        ("not json at all", "not_json"),
        ("[1, 2]", "unknown_type"),
        (json.dumps({"type": "shout", "text": "x"}), "unknown_type"),
        (json.dumps({"type": "message", "cid": "short", "text": "x"}), "invalid_frame"),
        (json.dumps({"type": "message", "cid": new_cid(), "text": ""}), "invalid_frame"),
        (json.dumps({"type": "message", "cid": new_cid(), "text": "x" * 4001}), "invalid_frame"),
        (json.dumps({"type": "button", "cid": new_cid()}), "invalid_frame"),
        (json.dumps({"type": "ack", "conversation": 1, "seqs": []}), "invalid_frame"),
        (json.dumps({"type": "ack", "conversation": 999999, "seqs": [1]}), "foreign_ack"),
        (json.dumps({"type": "hello"}), "hello_again"),
    ]
    for raw, code in cases:
        await widget.ws.send_str(raw)
        frame = await widget.until(lambda f: f["type"] == "error")
        assert frame["code"] == code, raw
    await widget.ws.send_bytes(b"\x00\x01")
    assert (await widget.until(lambda f: f["type"] == "error"))["code"] == "binary"
    await widget.send({"type": "ping"})
    assert (await widget.recv())["type"] == "pong"
    await widget.close()


async def test_an_oversize_frame_closes_the_socket_with_a_reason(chat: Chat) -> None:
    widget = await chat.widget()
    await widget.ws.send_str(json.dumps({"type": "message", "cid": new_cid(), "text": "x" * 20_000}))
    closing = await widget.ws.receive(timeout=10)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert widget.ws.close_code == WSCloseCode.MESSAGE_TOO_BIG
    assert "bytes" in str(closing.extra)


async def test_a_flood_is_rate_limited_per_visitor_and_stores_nothing_twice(chat: Chat) -> None:
    flooder = await chat.widget()
    bystander = await chat.widget()
    cids = [new_cid() for _ in range(1000)]
    for index, cid in enumerate(cids):
        await flooder.send({"type": "message", "cid": cid, "text": f"спам {index}"})
    limited: set[str] = set()
    shown: set[str] = set()
    async with asyncio.timeout(120):
        while len(limited) + len(shown) < len(cids):
            frame = await flooder.recv()
            if frame["type"] == "error":
                assert frame["code"] == "rate_limited"
                assert frame["retry_after"] > 0
                limited.add(frame["cid"])
            elif frame["type"] == "message" and frame["author"] == "customer":
                shown.add(frame["cid"])
    assert limited
    assert shown
    assert not limited & shown
    said = await bystander.say("здравствуйте")
    assert said["seq"] == 1, "another visitor is not slowed down by the flood"
    await chat.settle(timeout=300)
    stored = await chat.rows(Message.channel == Channel.WEB, Message.channel_message_id.in_(cids))
    assert sorted(m.channel_message_id or "" for m in stored) == sorted(shown)
    assert all(m.direction is Direction.INBOUND for m in stored)
    await flooder.close()
    await bystander.close()


async def test_metrics_count_sockets_frames_and_refusals(chat: Chat) -> None:
    widget = await chat.widget()
    await widget.say("здравствуйте")
    await widget.ws.send_str("{not json")
    await widget.until(lambda f: f["type"] == "error")
    response = await chat.stack.client.get("/metrics")
    text = await response.text()
    for name in (
        "frontline_webchat_connected",
        'frontline_webchat_frames_in_total{type="message"}',
        'frontline_webchat_rejected_frames_total{reason="not_json"}',
        "frontline_webchat_reconnects_total",
    ):
        assert name in text, name
    assert "frontline_webchat_connected 0.0" not in text, "the open socket is counted"
    await widget.close()


# --- the long-poll fallback ---------------------------------------------------------------------------


async def test_long_poll_carries_the_same_frames_and_resumes(chat: Chat) -> None:
    client = chat.stack.client
    headers = {"Origin": chat.origin}

    async def poll(frames: list[dict[str, object]], wait: bool = False) -> list[dict[str, object]]:
        response = await client.post("/ws/chat/poll?site=demo", json={"frames": frames, "wait": wait}, headers=headers)
        assert response.status == 200
        return list((await response.json())["frames"])

    cid = new_cid()
    first = await poll([{"type": "hello"}, {"type": "message", "cid": cid, "text": "как поменять пароль от вайфая?"}])
    welcome = next(f for f in first if f["type"] == "welcome")
    echo = next(f for f in first if f.get("cid") == cid)
    token, conversation, seq = welcome["token"], echo["conversation"], echo["seq"]
    again = await poll(
        [{"type": "hello", "token": token}, {"type": "message", "cid": cid, "text": "как поменять пароль от вайфая?"}]
    )
    assert [f["seq"] for f in again if f.get("cid") == cid] == [seq, seq], (
        "history and the resend's receipt: one message"
    )
    await chat.settle()
    replies: list[dict[str, object]] = []
    async with asyncio.timeout(120):
        while not any("html" in r for r in replies):
            frames = await poll(
                [{"type": "hello", "token": token, "conversation": conversation, "seq": seq}], wait=True
            )
            for frame in frames:
                if (
                    frame["type"] == "message"
                    and frame["author"] == "bot"
                    and frame["seq"] not in {r["seq"] for r in replies}
                ):
                    replies.append(frame)
            if replies:
                await poll(
                    [
                        {"type": "hello", "token": token},
                        {"type": "ack", "conversation": conversation, "seqs": [r["seq"] for r in replies]},
                    ]
                )
    stored = await chat.rows(Message.channel == Channel.WEB, Message.channel_message_id == cid)
    assert len(stored) == 1
    bad = await client.post("/ws/chat/poll?site=demo", data=b"nope", headers=headers)
    assert bad.status == 422
    foreign = await client.post(
        "/ws/chat/poll?site=demo", json={"frames": [{"type": "hello"}]}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
