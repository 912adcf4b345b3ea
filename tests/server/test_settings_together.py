"""Settings each valid alone but unable to work together stop start-up with one line naming the
variable to change (the notification lease against the send timeouts it must outlive, the retry
delays), instead of a server that starts and a dispatcher that fails beside it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError
from tests.support.cli import GMID, gmid_env


def refused(env: dict[str, str], variable: str) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {variable}: "), message
    return message


@pytest.mark.parametrize(
    ("env", "least"),
    [
        ({"GMID_NOTIFY_LEASE_SECONDS": "20"}, 30),  # WeChat's 5 s, twice: a token, then the send
        ({"GMID_SMTP_TIMEOUT": "30"}, 90),
        ({"GMID_SMS_TIMEOUT": "60", "GMID_NOTIFY_LEASE_SECONDS": "179"}, 180),
        ({"GMID_WECHAT_TIMEOUT": "11"}, 66),
    ],
)
def test_a_lease_shorter_than_3x_the_longest_send_is_refused(env: dict[str, str], least: int) -> None:
    message = refused(env, "GMID_NOTIFY_LEASE_SECONDS")
    assert f"at least {least}" in message
    # At exactly 3x it is accepted.
    Settings.from_env({**env, "GMID_NOTIFY_LEASE_SECONDS": str(least)}, env_file=None)


def test_a_first_retry_delay_longer_than_the_longest_is_refused() -> None:
    refused({"GMID_NOTIFY_BACKOFF_BASE": "60", "GMID_NOTIFY_BACKOFF_CAP": "30"}, "GMID_NOTIFY_BACKOFF_BASE")
    Settings.from_env({"GMID_NOTIFY_BACKOFF_BASE": "30", "GMID_NOTIFY_BACKOFF_CAP": "30"}, env_file=None)


def test_the_defaults_work_together() -> None:
    Settings.from_env({}, env_file=None)
    Settings()


async def test_gmid_serve_stops_at_once_with_one_line(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *("serve", "--port", str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**gmid_env(settings), "GMID_SMTP_TIMEOUT": "60"},
        cwd=str(Path(settings.var_dir).parent),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    except TimeoutError:
        proc.terminate()
        await proc.wait()
        pytest.fail("gmid serve started with a lease its sends can outlive")
    assert proc.returncode == 2
    assert out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmid: invalid setting GMID_NOTIFY_LEASE_SECONDS: "), lines
