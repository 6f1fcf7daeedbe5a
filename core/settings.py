"""Settings from ``FRONTLINE_*`` environment variables and ``.env``.

Defaults give the embedded single-process mode: SQLite under ``var/``, in-process events, no Telegram.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTLINE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{ROOT / 'var' / 'frontline.db'}",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0 — shared events and Telegram state between workers"
    )
    host: str = Field(default="127.0.0.1", description="Address the web server binds to")
    port: int = Field(default=8080, ge=0, le=65535, description="Port of the web server")
    public_url: str = Field(default="", description="External base URL (links in notifications)")
    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather")
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL for Telegram webhooks; polling when unset"
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, description="Secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token"
    )
    telegram_api_url: str | None = Field(
        default=None, description="Base URL of a self-hosted Bot API server (tests point it at a stand-in)"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Key for session cookies and tokens; generated into var/secret_key if unset"
    )
    default_language: Literal["ru", "en"] = Field(default="ru", description="Language of new customers")
    default_timezone: str = Field(default="Europe/Moscow", description="Timezone of new customers")
    default_plan: str = Field(default="standard", description="Support plan of new customers")
    nlu_engine: str = Field(
        default="builtin",
        pattern=r"^(builtin|rasa|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$",
        description="NLU engine: builtin, rasa, or module:factory (called with the settings and the builtin engine)",
    )
    rasa_url: str = Field(default="http://127.0.0.1:5005", description="Rasa server for nlu_engine=rasa")
    rasa_timeout: float = Field(default=2.0, gt=0, description="Seconds before a Rasa call falls back")
    nlu_oos_prior: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Expected share of customer messages that no intent covers; the builtin engine's out-of-scope "
        "threshold holds its precision target at this share (benches report with it too)",
    )
    embedding_model: str = Field(
        default="use",
        description="Embedder: use | e5 | use+e5 | minilm | st:<model name or path>",
    )
    embedding_threads: int = Field(default=1, ge=1, description="CPU threads of the embedder (cores ÷ workers)")
    data_dir: Path = Field(default=ROOT / "data", description="Plans, SLA, templates, KB, NLU data")
    var_dir: Path = Field(default=ROOT / "var", description="Runtime files: SQLite, caches, models")
    static_dir: Path = Field(
        default=ROOT / "frontend" / "dist", description="The front-end build (pages' scripts, the widget)"
    )
    session_max_age: int = Field(default=8 * 3600, gt=0, description="Operator session lifetime, seconds")
    telegram_bot_username: str = Field(
        default="",
        pattern=r"^@?[A-Za-z0-9_]{0,64}$",
        description="The bot's @username: the help center's \"chat with us\" links to t.me/<username>",
    )
    help_widget_site: str = Field(
        default="", description="Web-chat site key the help center embeds the widget with; empty: no widget there"
    )
    portal_link_ttl: int = Field(
        default=15 * 60, gt=0, description="Seconds a customer portal link (sent by the bot) stays usable"
    )
    portal_session_max_age: int = Field(
        default=2 * 3600, gt=0, description="Customer portal session lifetime, seconds (capped by session_max_age)"
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format")
    log_level: str = Field(default="INFO", description="Log level")
    database_wait: float = Field(
        default=60.0,
        ge=0,
        description="Seconds `frontline serve` keeps retrying a database that refuses connections at start",
    )
    max_message_chars: int = Field(
        default=16_000, gt=0, description="Longer inbound texts are stored truncated, with a note"
    )
    inbox_default_team: str = Field(
        default="first-line", description="Key of the team a waiting conversation goes to when nothing else decides"
    )
    inbox_away_after: int = Field(
        default=600, gt=0, description="An online operator not seen in the inbox for this many seconds counts as away"
    )
    link_code_ttl: int = Field(
        default=10 * 60, gt=0, description="Seconds a code that links web chat and Telegram into one customer works"
    )
    telegram_rate_limit: float = Field(
        default=25.0,
        ge=0,
        description="Messages per second one process's outbox sends to Telegram (Telegram allows about 30 a second "
        "per bot); with several workers give each its share; 0: no limit",
    )
    notice_batch: int = Field(
        default=500, gt=0, le=10_000, description="Recipients a notice's fan-out stores per transaction"
    )
    reminder_period_days: int = Field(
        default=14, ge=0, le=366, description="Remind customers whose service period ends within this many days"
    )
    reminder_check_days: int = Field(
        default=7, ge=0, le=366, description="Remind customers whose equipment check is due within this many days"
    )

    session_cookie_secure: bool | None = Field(
        default=None,
        description="Mark the staff session cookie Secure (sent over HTTPS only); unset: on when public_url is https",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="Behind a reverse proxy: take the client address for sign-in throttling from the last "
        "X-Forwarded-For entry (only when the proxy sets it)",
    )

    image_sources: list[str] = Field(
        default_factory=list,
        description="Origins articles may show images from besides this site and data: URLs "
        '(e.g. ["https://cdn.example"]); empty: none',
    )

    @property
    def cookies_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.public_url.lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def secret(self) -> bytes:
        """The key bytes; generated once into ``var/secret_key`` so restarts keep sessions valid."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()
