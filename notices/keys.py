"""Application keys owned by notices (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from notices.audience import AudienceKind, DueSource
    from notices.reminders import Reminders
    from notices.sending import NoticeSender

NOTICE_SENDER: web.AppKey[NoticeSender] = web.AppKey("notice_sender")
# The service records' due queries, when the application has them: the two "within N days" audiences.
DUE_SOURCES: web.AppKey[dict[AudienceKind, DueSource]] = web.AppKey("notice_due_sources")
REMINDERS: web.AppKey[Reminders] = web.AppKey("notice_reminders")
