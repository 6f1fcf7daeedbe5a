"""The portal link dialog: "my requests on the website" (typed, or the button under a ticket notice).

The bot answers with a fresh single-use link to the customer's portal, in their own channel; issuing it is
``portal.links.issue`` — this module only decides that the turn is about it.
"""

from __future__ import annotations

from bot.engine.turn import Turn
from core.settings import Settings
from portal import links
from tickets.notify import PORTAL_LINK

CONFIDENT = 0.5


async def portal_link(turn: Turn, settings: Settings) -> bool:
    """Send the link when the customer asked for it; False (nothing said) when the turn is about something else.

    A typed request does not interrupt a running flow (a ticket description that happens to mention the
    website stays a description); the button always works.
    """
    pressed = turn.message.meta.get("payload") == PORTAL_LINK
    asked = turn.state.flow is None and turn.intent == "portal_link" and turn.confidence >= CONFIDENT
    if not (pressed or asked):
        return False
    url = await links.issue(turn.uow, turn.customer, settings, channel=turn.conversation.channel.value)
    turn.say("portal.link", url=url, minutes=max(1, settings.portal_link_ttl // 60))
    return True
