"""Headless Chromium (Debian ``chromium``) rendering a page with the internet cut.

Every host name but 127.0.0.1 resolves to nothing, so a page that needs a CDN, web fonts or
any other outside resource renders without it. The browser runs in a session of its own
with a fresh profile, and its whole process group is killed if it outlives its time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile

VIRTUAL_TIME_BUDGET_MS = 15_000
"""Virtual time the page gets to load and run its scripts before the DOM is dumped."""
TIMEOUT_S = 120.0
OFFLINE_RULES = "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root here
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The path of Debian's chromium, or a failure saying how to get it."""
    found = shutil.which("chromium")
    assert found, "Debian's chromium is required: `make install` installs it (apt-get)"
    return found


def offline_dom(url: str) -> str:
    """The DOM of ``url`` once its scripts have run, loaded with only 127.0.0.1 reachable."""
    with tempfile.TemporaryDirectory(prefix="sluice-chromium-") as profile:
        argv = [
            chromium(),
            *QUIET_FLAGS,
            f"--user-data-dir={profile}",
            f"--host-resolver-rules={OFFLINE_RULES}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            "--dump-dom",
            url,
        ]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            dom, errors = process.communicate(timeout=TIMEOUT_S)
        finally:
            # The renderer and zygote processes are in the browser's group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 0, errors[-4000:]
    return dom
