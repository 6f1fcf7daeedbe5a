"""The notices dialog: a customer stops or resumes non-urgent notices.

By the button under a notice, by /notices_off and /notices_on, or typed ("не присылайте уведомления").
Incident notices are sent whatever the choice; the bot says so. The choice itself is ``notices.optout``.
"""

from __future__ import annotations

from bot.engine.turn import Turn
from bot.engine.words import Words
from notices import optout


async def notices_off(turn: Turn) -> None:
    stopped = await optout.opt_out(turn.uow.session, turn.customer.id)
    turn.say("notices.off_done" if stopped else "notices.off_already")


async def notices_on(turn: Turn) -> None:
    resumed = await optout.opt_in(turn.uow.session, turn.customer.id)
    turn.say("notices.on_done" if resumed else "notices.on_already")


async def typed_choice(turn: Turn, words: Words) -> bool:
    """A typed request to stop or resume notices (outside a flow); False when the message is not one."""
    if turn.state.flow is not None:
        return False
    if words.matches(turn.text, words.notices_off):
        await notices_off(turn)
        return True
    if words.matches(turn.text, words.notices_on):
        await notices_on(turn)
        return True
    return False
