"""The Rasa engine against a real Rasa 3.6 server (``make rasa`` installs it) with the model of data/nlu.

The server runs as our own child process (``scripts/rasa.sh serve PORT`` on a free port), so a developer's
server started with ``scripts/rasa.sh start`` is left alone. Without ``.rasa-venv`` these tests skip, or fail
when ``FRONTLINE_REQUIRE_RASA=1`` (CI).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from core.settings import ROOT
from nlu.engines.builtin import BuiltinEngine
from nlu.engines.rasa import RasaEngine
from tests.support.nlu import KEY_UTTERANCES

pytestmark = [pytest.mark.rasa, pytest.mark.timeout(900)]

RASA_BIN = ROOT / ".rasa-venv" / "bin" / "rasa"
SCRIPT = ROOT / "scripts" / "rasa.sh"
START_TIMEOUT = float(os.environ.get("FRONTLINE_RASA_START_TIMEOUT", "300"))
CONFIDENT = 0.7


def _require_rasa() -> None:
    if RASA_BIN.exists():
        return
    message = f"{RASA_BIN} is missing: run `make rasa` to install Rasa and train the model"
    if os.environ.get("FRONTLINE_REQUIRE_RASA") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RasaServer:
    """One ``rasa run`` child process; ``stop`` ends it (by its own process group), ``ensure_running`` restarts."""

    def __init__(self, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def ensure_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None and self.answers():
            return
        self.stop()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            ["bash", str(SCRIPT), "serve", str(self.port)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"rasa exited during start-up: see {self.log_path}")
            if self.answers():
                return
            time.sleep(1)
        self.stop()
        pytest.fail(f"rasa did not answer within {START_TIMEOUT} s: see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture(scope="module")
def rasa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaServer]:
    _require_rasa()
    # Trains only when data/nlu or the config changed since the last model (the script keeps a hash).
    done = subprocess.run(["bash", str(SCRIPT), "train"], cwd=ROOT, capture_output=True, timeout=900, check=False)
    if done.returncode != 0:
        pytest.fail("scripts/rasa.sh train failed:\n" + done.stderr.decode(errors="replace")[-3000:])
    server = RasaServer(tmp_path_factory.mktemp("rasa") / "rasa.log")
    yield server
    server.stop()


@pytest.fixture
def rasa_url(rasa_server: RasaServer) -> str:
    rasa_server.ensure_running()
    return rasa_server.url


async def test_both_engines_agree_where_both_are_confident(rasa_url: str, builtin: BuiltinEngine) -> None:
    engine = RasaEngine(rasa_url, builtin, timeout=30)
    compared = []
    for text, hint, _intent, _entities in KEY_UTTERANCES:
        from_rasa = await engine.parse(text, hint)
        from_builtin = await builtin.parse(text, hint)
        if from_rasa.intent.confidence >= CONFIDENT and from_builtin.intent.confidence >= CONFIDENT:
            compared.append((text, from_rasa.intent.name, from_builtin.intent.name))
    assert engine.fallbacks == 0, "the real server must have answered every parse"
    assert len(compared) >= len(KEY_UTTERANCES) // 2, compared
    assert [c for c in compared if c[1] != c[2]] == []
    parse = await engine.parse("где моя заявка T-000123")
    assert parse.intent.name == "ticket_status"
    ticket = parse.entity("ticket_number")
    assert ticket is not None
    assert ticket.value == "T-000123"
    await engine.close()


async def test_stopping_rasa_mid_run_falls_back_to_builtin(rasa_server: RasaServer, builtin: BuiltinEngine) -> None:
    rasa_server.ensure_running()
    engine = RasaEngine(rasa_server.url, builtin, timeout=30, failure_threshold=2, cooldown=60)
    before = await engine.parse("позовите оператора")
    assert before.intent.name == "talk_to_human"
    assert engine.fallbacks == 0
    rasa_server.stop()
    for _ in range(3):
        after = await engine.parse("позовите оператора")
        assert after.intent.name == "talk_to_human"
    assert engine.fallbacks == 3
    assert engine.breaker.state.value == "open"
    await engine.close()
