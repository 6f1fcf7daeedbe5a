"""Sites that embed the widget (``data/webchat.yml``): who may connect, and how a site vouches for its users.

A site names the origins its pages are served from; the WebSocket refuses any other ``Origin``. A site that
knows its signed-in user passes the user's id with ``HMAC-SHA256(secret, "<user id>:<unix time>")``; the
time makes a leaked signature useless after ``IDENTITY_MAX_AGE`` seconds instead of forever.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from core.datafiles import Strict, read_yaml, validate

__all__ = ["IDENTITY_MAX_AGE", "SELF_ORIGIN", "Sites", "WebSite", "identity_signature"]

IDENTITY_MAX_AGE = 300  # seconds a signed user id is accepted; clocks a few minutes apart still work
SELF_ORIGIN = "self"  # an origin entry meaning "pages served by this server" (the /demo page, the help center)


class WebSite(Strict):
    name: str = Field(min_length=1, max_length=200)
    origins: tuple[str, ...] = Field(min_length=1)
    secret: str = Field(min_length=16, max_length=200)
    language: Literal["ru", "en"] = "ru"

    def allows(self, origin: str | None, own_origin: str) -> bool:
        if not origin:
            return False
        origin = origin.rstrip("/").lower()
        for allowed in self.origins:
            if allowed == SELF_ORIGIN and origin == own_origin.lower():
                return True
            if allowed.rstrip("/").lower() == origin:
                return True
        return False

    def verify_user(self, user_id: str, timestamp: int, signature: str, now: float | None = None) -> str | None:
        """Why the signed user id is refused (``bad_signature`` or ``stale_signature``); None when it is good."""
        expected = identity_signature(self.secret, user_id, timestamp)
        if not hmac.compare_digest(expected, signature.lower()):
            return "bad_signature"
        if abs((now if now is not None else time.time()) - timestamp) > IDENTITY_MAX_AGE:
            return "stale_signature"
        return None


def identity_signature(secret: str, user_id: str, timestamp: int) -> str:
    """What a site's server computes for its signed-in user (hex HMAC-SHA256 of ``"<user id>:<unix time>"``)."""
    return hmac.new(secret.encode(), f"{user_id}:{timestamp}".encode(), hashlib.sha256).hexdigest()


class _SitesFile(Strict):
    sites: dict[str, WebSite] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sites:
    by_key: dict[str, WebSite]

    @classmethod
    def load(cls, data_dir: Path) -> Sites:
        """``data/webchat.yml``; no file means no site may embed the widget."""
        path = data_dir / "webchat.yml"
        if not path.exists():
            return cls({})
        parsed = validate(path, _SitesFile, read_yaml(path) or {})
        return cls(dict(parsed.sites))

    def get(self, key: str) -> WebSite | None:
        return self.by_key.get(key)
