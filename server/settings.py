"""Settings from ``GMID_*`` environment variables and an optional ``.env`` file.

Every setting is declared once in ``SPECS`` (server/setting_specs.py) with its type, default and meaning; the README's
settings table is checked against that list by a test, so the two cannot drift apart.
An invalid value stops start-up with one line naming the variable and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.setting_specs import DEFAULT_METRICS_ALLOW, SPECS


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    var_dir: str = "var"
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    sqlite_busy_timeout: int = 10
    redis_url: str | None = field(default=None, repr=False)
    public_base_url: str = ""  # "": derived from host and port (__post_init__)
    wechat_appid: str = ""
    wechat_secret: str = field(default="", repr=False)
    wechat_api_base_url: str = "https://api.weixin.qq.com/"
    wechat_timeout: int = 5
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 86400
    session_max_age: int = 90 * 86400
    access_token_secret: str = field(default="", repr=False)
    pii_keys: str = field(default="", repr=False)
    pii_active_key: str = ""
    pii_index_key: str = field(default="", repr=False)
    max_body_bytes: int = 1024 * 1024
    photo_decode_workers: int = 2
    photo_decode_queue: int = 4
    photo_upload_limits: str = "60/hour,300/day"
    rate_limit_ip: str = "600/minute"
    rate_limit_account: str = "600/minute"
    rate_limits: str = ""
    rate_limit_enabled: bool = True
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_seconds: int = 900
    console_idle_seconds: int = 1800
    console_max_seconds: int = 12 * 3600
    proxies_count: int = 0
    metrics_allow: str = DEFAULT_METRICS_ALLOW
    qr_font: str = ""
    wechat_oa_appid: str = ""
    wechat_oa_secret: str = field(default="", repr=False)
    wechat_oa_token: str = field(default="", repr=False)
    wechat_mp_token: str = field(default="", repr=False)
    wechat_miniprogram_state: str = "formal"
    sms_secret_id: str = ""
    sms_secret_key: str = field(default="", repr=False)
    sms_sdk_app_id: str = ""
    sms_sign_name: str = ""
    sms_region: str = "ap-guangzhou"
    sms_endpoint: str = "https://sms.tencentcloudapi.com"
    sms_timeout: int = 10
    sms_callback_token: str = field(default="", repr=False)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = ""
    smtp_timeout: int = 10
    mqtt_url: str = field(default="", repr=False)  # may carry a password
    notify_worker: bool = True
    notify_batch_size: int = 50
    notify_concurrency: int = 16
    notify_lease_seconds: int = 60
    notify_poll_seconds: int = 5
    notify_max_attempts: int = 5
    notify_backoff_base: int = 2
    notify_backoff_cap: int = 900
    notify_dedup_seconds: int = 86400
    notify_recipient_limits: str = "sms=5/hour,email=30/hour,wechat=60/hour"
    notify_sms_indoubt_seconds: int = 120
    notify_wechat_indoubt_seconds: int = 60
    notify_wechat_templates: str = ""
    notify_sms_templates: str = ""
    ebike_max_per_owner: int = 5
    police_lookup_rate: str = "60/hour"
    clinic_predict_timeout_ms: int = 2000
    device_escalation: str = "critical=5+10,major=15+30,warning=60+120"
    device_group_seconds: int = 60
    device_heartbeats: str = ""
    checkin_retention_days: int = 28
    jobs_push_threshold: int = 60
    jobs_push_per_day: int = 3
    log_level: str = "INFO"
    access_log: bool = False

    def __post_init__(self) -> None:
        if not self.public_base_url:
            object.__setattr__(self, "public_base_url", derived_base_url(self.host, self.port))
            object.__setattr__(self, "_derived_base_url", True)  # not a field: replace() derives again
        problem = self._conflict()
        if problem:
            raise SettingsError(problem)

    def _conflict(self) -> str | None:
        """Values each valid on their own that cannot work together, as one line naming the variable."""
        # A claim must outlive the slowest send it covers, with room for a retry: a shorter lease lets
        # another dispatcher take a row whose send is still in flight, and send it twice.
        timeouts = {
            "GMID_WECHAT_TIMEOUT": (self.wechat_timeout, 2),  # a token fetch, then the send
            "GMID_SMS_TIMEOUT": (self.sms_timeout, 1),
            "GMID_SMTP_TIMEOUT": (self.smtp_timeout, 1),
        }
        name, (seconds, calls) = max(timeouts.items(), key=lambda item: item[1][0] * item[1][1])
        if self.notify_lease_seconds < 3 * seconds * calls:
            twice = ", twice: a token, then the send" if calls == 2 else ""
            return (
                f"invalid setting GMID_NOTIFY_LEASE_SECONDS: {self.notify_lease_seconds} s is less than 3x the "
                f"longest send ({name}={seconds} s{twice}); set it to at least {3 * seconds * calls}"
            )
        if self.notify_backoff_base > self.notify_backoff_cap:
            return (
                f"invalid setting GMID_NOTIFY_BACKOFF_BASE: the first retry delay ({self.notify_backoff_base} s) "
                f"is longer than the longest, GMID_NOTIFY_BACKOFF_CAP ({self.notify_backoff_cap} s)"
            )
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        """Read settings: real environment first, then the ``.env`` file, then defaults."""
        merged: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            merged.update(read_env_file(Path(env_file)))
        merged.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = merged.get(spec.env)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[spec.attr] = spec.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"invalid setting {spec.env}: {exc}") from None
        unknown = sorted(k for k in merged if k.startswith("GMID_") and k not in _KNOWN_ENV)
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]} (see the README for the list of GMID_* settings)")
        return cls(**values)

    # Derived paths and values -------------------------------------------------------------

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir).resolve()

    @property
    def keys_path(self) -> Path:
        return self.var_path / "keys"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.var_path / 'gmid.sqlite3'}"

    @property
    def public_base_url_derived(self) -> bool:
        """GMID_PUBLIC_BASE_URL is unset: the address comes from host and port."""
        return bool(getattr(self, "_derived_base_url", False))

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    def replace(self, **changes: Any) -> Settings:
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.public_base_url_derived:
            current["public_base_url"] = ""  # a new host or port moves the derived address along
        current.update(changes)
        return Settings(**current)


# Bind addresses meaning "every interface": never an address to send a phone to.
_WILDCARD_HOSTS = frozenset({"", "*", "::", "0.0.0.0"})  # noqa: S104  (compared, not bound)


def derived_base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` for a service whose public address is not set; a wildcard bind address
    (0.0.0.0, ::) is no address to give anyone, so 127.0.0.1 stands in for it."""
    name = host.strip().strip("[]")
    if name in _WILDCARD_HOSTS:
        name = "127.0.0.1"
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


# Variables that are ours but not settings of the app itself (the test suite's switches).
_EXTRA_ENV = {
    "GMID_TEST_DATABASE_URL",
    "GMID_TEST_REDIS_URL",
    "GMID_TEST_KEEP_TMP",
    "GMID_TEST_CHROMIUM",
    "GMID_TEST_SCREENSHOTS",
}
_KNOWN_ENV = {spec.env for spec in SPECS} | _EXTRA_ENV


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; ``#`` comments and blank lines are skipped, quotes stripped."""
    result: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :]
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result
