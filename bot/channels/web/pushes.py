"""Events that carry a web reply to the worker holding the visitor's socket, and its acknowledgement back.

With several workers the outbox row of a web reply is claimed by whichever worker polls first, while the
visitor's socket may be held by another. The claiming worker publishes :data:`WEB_PUSH`; a worker holding a
socket of that visitor sends the reply and answers :data:`WEB_PUSHED`; when the widget acknowledges it, that
worker publishes :data:`WEB_ACKED` and the claiming worker records the reply as delivered.
"""

from __future__ import annotations

from pydantic import BaseModel

WEB_PUSH = "web.push"
WEB_PUSHED = "web.pushed"
WEB_ACKED = "web.acked"


class Push(BaseModel):
    """Send this stored reply to the visitor ``chat`` if you hold one of their sockets."""

    message: int
    conversation: int
    seq: int
    chat: str


class Pushed(BaseModel):
    """A worker sent the reply (``conversation``, ``seq``) to at least one socket of ``chat``."""

    conversation: int
    seq: int
    chat: str


class Acked(BaseModel):
    """A widget of ``chat`` acknowledged these replies of ``conversation``, and no local outbox send waited for them."""

    conversation: int
    seqs: list[int]
    chat: str
