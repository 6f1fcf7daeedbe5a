"""A customer who types everything (no buttons), through the whole stack and the Bot API stand-in.

``python -m standin.transcript`` starts Frontline on a fresh SQLite database in a temporary directory, plays
the conversation in Russian and in English — greeting, a ticket (interrupted by a question), its status, a
request for a human, waiting, and back to the bot — and prints the transcript as Markdown.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from core.migrate import upgrade
from standin.botapi import BotApiStandIn
from standin.stack import stack_settings, start_stack

SCRIPTS = {
    "ru": [
        "/start",
        "у меня не работает интернет уже второй день, роутер мигает красным",
        "как оплатить интернет картой?",
        "да, продолжим",
        "срочно",
        "да",
        "какой статус моей заявки?",
        "позовите оператора",
        "алло",
        "ну где вы???",
        "отмена, уже не нужно",
        "спасибо",
    ],
    "en": [
        "/start",
        "my internet has been down since yesterday, the router light is red",
        "how can I change my wifi password?",
        "yes, continue",
        "urgent",
        "yes",
        "what is the status of my ticket?",
        "I need a human operator",
        "hello?",
        "anyone there???",
        "never mind, no longer needed",
        "thanks",
    ],
}


async def play() -> str:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'frontline.db'}"
        upgrade(url)
        async with BotApiStandIn() as standin:
            stack = await start_stack(stack_settings(url, Path(tmp) / "var", standin), standin)
            try:
                for chat, (language, script) in enumerate(SCRIPTS.items(), start=1):
                    lines.append(f"### {'Русский' if language == 'ru' else 'English'}\n")
                    for text in script:
                        lines.append(f"**Customer:** {text}  ")
                        replies = await stack.say(chat, text, language)
                        for reply in replies or ["*(no reply)*"]:
                            lines.append(f"**Bot:** {reply.replace(chr(10), '  ' + chr(10) + '> ')}  ")
                        lines.append("")
            finally:
                await stack.client.close()
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(asyncio.run(play()) + "\n")


if __name__ == "__main__":
    main()
