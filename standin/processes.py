"""Real ``frontline serve`` processes for the crash tests and the soak bench: started, waited for, killed.

The processes talk to the Bot API stand-in over loopback exactly as they would talk to Telegram, and to a
real database, so what is read back afterwards is what a real deployment would have stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout

from core.settings import ROOT
from standin.stack import TOKEN

FRONTLINE = Path(sys.executable).with_name("frontline")
START_TIMEOUT = 180.0  # a cold start trains the NLU model; on a loaded 2-core machine that takes a while


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(db_url: str, var_dir: Path, api_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker whose Telegram channel talks to the stand-in at ``api_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTLINE_")}
    env.update(
        FRONTLINE_DATABASE_URL=db_url,
        FRONTLINE_VAR_DIR=str(var_dir),
        FRONTLINE_SECRET_KEY="crash-test-secret-key-not-for-production",
        FRONTLINE_TELEGRAM_TOKEN=TOKEN,
        FRONTLINE_TELEGRAM_API_URL=api_url,
        FRONTLINE_EMBEDDING_THREADS="1",
        FRONTLINE_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def run_command(env: dict[str, str], *args: str, timeout: float = 300.0) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(FRONTLINE), *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, f"frontline {' '.join(args)} failed:\n{out.decode(errors='replace')[-3000:]}"


@dataclass
class Worker:
    """One ``frontline serve`` process on its own port."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            str(FRONTLINE), "serve", "--port", str(self.port), env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        log.close()
        await self.wait_healthy()

    async def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        async with asyncio.timeout(timeout), ClientSession(timeout=ClientTimeout(total=2)) as http:
            while True:
                assert self.proc is not None
                assert self.proc.returncode is None, f"the worker exited:\n{self.tail()}"
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except (ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut where it stood."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def wait_dead(self) -> None:
        assert self.proc is not None
        await self.proc.wait()

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
