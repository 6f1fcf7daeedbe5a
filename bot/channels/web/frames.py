"""The widget's protocol: JSON frames over the WebSocket, validated before anything acts on them.

Client → server: ``hello`` (first, once), ``message``, ``button``, ``ack``, ``typing``, ``suggest``, ``ping``.
Server → client: ``welcome``, ``message``, ``typing``, ``suggestions``, ``error``, ``pong``.
A client id (``cid``) is the widget's own id for a message: storing it makes a resend after a reconnect a
no-op, the way Telegram's message id does for Telegram.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
MAX_TEXT = 4000


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignedUser(_Frame):
    id: str = Field(min_length=1, max_length=100)
    ts: int
    sig: str = Field(min_length=64, max_length=64)
    name: str = Field(default="", max_length=200)


class Hello(_Frame):
    type: Literal["hello"]
    token: str | None = Field(default=None, max_length=1000)
    user: SignedUser | None = None
    lang: Literal["ru", "en"] | None = None
    conversation: int | None = Field(default=None, ge=1, description="The conversation the widget has shown")
    seq: int = Field(default=0, ge=0, description="The last message number it has shown there")


class Say(_Frame):
    type: Literal["message"]
    cid: str = Field(pattern=CID_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class Press(_Frame):
    type: Literal["button"]
    cid: str = Field(pattern=CID_PATTERN)
    payload: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=64, description="What the button said, shown in the other tabs")


class Ack(_Frame):
    type: Literal["ack"]
    conversation: int = Field(ge=1)
    seqs: list[int] = Field(min_length=1, max_length=500)


class Typing(_Frame):
    type: Literal["typing"]
    on: bool


class Suggest(_Frame):
    type: Literal["suggest"]
    q: str = Field(max_length=300)


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[Say | Press | Ack | Typing | Suggest | Ping | Hello, Field(discriminator="type")]
CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("hello", "message", "button", "ack", "typing", "suggest", "ping")


def error(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}
