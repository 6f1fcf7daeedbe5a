"""The fuzz pass (``make fuzz``): schemathesis against the OpenAPI document, signed in as admin; no 5xx allowed.

Serves ``frontline serve`` on a scratch SQLite database (migrated, demo data loaded so routes have rows to
find), signs in through the real login form, hands schemathesis the session cookie (through a config file:
the document declares the session as an ``apiKey`` cookie scheme) and the CSRF header, and runs
``--checks not_a_server_error``. ``/logout`` is excluded (it would end the run's own session). The exit
status is schemathesis's. Run with ``.venv/bin/python scripts/fuzz.py SCHEMATHESIS [extra schemathesis args]``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
FRONTLINE = str(Path(sys.executable).parent / "frontline")
ADMIN = ("admin", "frontline-admin")  # the demo admin (demo data is loaded into the scratch database only)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _sign_in(base: str) -> tuple[str, str]:
    """The session cookie value and the CSRF token of a fresh admin session."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        end = time.monotonic() + 180
        while True:
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                if time.monotonic() > end:
                    raise
            await asyncio.sleep(0.5)
        page = await (await http.get(f"{base}/login")).text()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "the login page has a CSRF token"
        form = {"login": ADMIN[0], "password": ADMIN[1], "csrf_token": found.group(1)}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
        me = await (await http.get(f"{base}/api/me")).json()
        cookie = next(c.value for c in jar if c.key == "frontline_session")
        return cookie, str(me["csrf_token"])


def main() -> int:
    schemathesis, *extra = sys.argv[1:]
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        env = dict(
            os.environ,
            FRONTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{folder}/fuzz.db",
            FRONTLINE_VAR_DIR=folder,
            FRONTLINE_PORT=str(port),
            FRONTLINE_SECRET_KEY="fuzz-secret-key",
            FRONTLINE_LOG_LEVEL="ERROR",
        )
        for command in (["db", "upgrade"], ["demo", "load"]):
            subprocess.run([FRONTLINE, *command], env=env, check=True, cwd=ROOT, capture_output=True)
        log = Path(folder) / "server.log"
        with log.open("w") as server_log:
            server = subprocess.Popen([FRONTLINE, "serve"], env=env, cwd=ROOT, stdout=server_log, stderr=server_log)
        try:
            base = f"http://127.0.0.1:{port}"
            cookie, csrf = asyncio.run(_sign_in(base))
            config = Path(folder) / "schemathesis.toml"
            config.write_text(f'[auth.openapi.session]\napi_key = "{cookie}"\n')
            status = subprocess.run(
                [
                    schemathesis,
                    "--config-file",
                    str(config),
                    "run",
                    f"{base}/api/openapi.json",
                    "--url",
                    base,
                    "--checks",
                    "not_a_server_error",
                    "-H",
                    f"X-CSRF-Token: {csrf}",
                    "--exclude-path",
                    "/logout",
                    *extra,
                ],
                cwd=ROOT,
                check=False,
            ).returncode
            if status != 0:
                print(f"--- server log (last lines) ---\n{log.read_text()[-6000:]}", file=sys.stderr)
            return status
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
