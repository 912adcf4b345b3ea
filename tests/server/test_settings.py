"""Settings from GMID_* variables and ``.env``: defaults, one-line errors naming the variable, the README."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import SPECS, Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]
TEST_SWITCHES = {
    "GMID_TEST_DATABASE_URL",
    "GMID_TEST_REDIS_URL",
    "GMID_TEST_KEEP_TMP",
    "GMID_TEST_CHROMIUM",
    "GMID_TEST_SCREENSHOTS",
}


def load(environ: dict[str, str], env_file: Path | None = None) -> Settings:
    return Settings.from_env(environ, env_file=env_file)


def assert_one_line_naming(exc: SettingsError, variable: str) -> str:
    message = str(exc)
    assert message.strip(), "the message says what is wrong"
    assert "\n" not in message and "\r" not in message, message
    assert variable in message, message
    assert "Traceback" not in message
    return message


# Defaults --------------------------------------------------------------------------------------


def test_every_setting_has_one_spec_and_one_field() -> None:
    attrs = [spec.attr for spec in SPECS]
    assert len(attrs) == len(set(attrs))
    assert set(attrs) == {f.name for f in dataclasses.fields(Settings)}
    for spec in SPECS:
        assert spec.env == "GMID_" + spec.attr.upper()
        assert spec.doc.strip(), f"{spec.env} is described"


def test_defaults_match_the_dataclass_for_every_spec() -> None:
    from_env = load({})
    plain = Settings()
    assert from_env == plain
    for spec in SPECS:
        assert getattr(plain, spec.attr) == spec.default, spec.env
        assert getattr(from_env, spec.attr) == spec.default, spec.env


def test_defaults_are_valid_values_when_written_out() -> None:
    for spec in SPECS:
        if spec.default in (None, ""):
            continue
        parsed = getattr(load({spec.env: str(spec.default)}), spec.attr)
        if isinstance(spec.default, str):
            assert parsed.rstrip("/") == spec.default.rstrip("/"), spec.env
        else:
            assert parsed == spec.default, spec.env


def test_names_and_defaults_that_deployment_scripts_rely_on() -> None:
    settings = load({})
    assert settings.port == 8000
    assert settings.var_dir == "var"
    assert settings.database_url is None and settings.redis_url is None
    assert settings.wechat_api_base_url == "https://api.weixin.qq.com/"
    envs = {spec.env for spec in SPECS}
    for name in (
        "GMID_HOST",
        "GMID_PORT",
        "GMID_WORKERS",
        "GMID_VAR_DIR",
        "GMID_DATABASE_URL",
        "GMID_REDIS_URL",
        "GMID_PUBLIC_BASE_URL",
        "GMID_WECHAT_APPID",
        "GMID_WECHAT_SECRET",
        "GMID_WECHAT_API_BASE_URL",
    ):
        assert name in envs


def test_valid_values_are_read() -> None:
    settings = load(
        {
            "GMID_PORT": " 9000 ",
            "GMID_WORKERS": "4",
            "GMID_DATABASE_URL": "postgres://gmid:pw@db.internal:5432/gmid",
            "GMID_REDIS_URL": "redis://cache.internal:6379/2",
            "GMID_RATE_LIMIT_IP": "5/minute",
            "GMID_RATE_LIMITS": "identity.auth.login=ip:10/minute|account:30/hour",
            "GMID_RATE_LIMIT_ENABLED": "false",
            "GMID_LOG_LEVEL": "debug",
            "GMID_ACCESS_LOG": "yes",
            "GMID_PUBLIC_BASE_URL": "https://eid.example.cn/",
        }
    )
    assert settings.port == 9000
    assert settings.workers == 4
    assert settings.database_url == "postgres://gmid:pw@db.internal:5432/gmid"
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.rate_limit_ip == "5/minute"
    assert settings.rate_limit_enabled is False
    assert settings.log_level == "DEBUG"
    assert settings.access_log is True
    assert settings.public_base_url.rstrip("/") == "https://eid.example.cn"


def test_blank_values_mean_the_default() -> None:
    assert load({"GMID_PORT": "", "GMID_LOG_LEVEL": "   "}) == Settings()


def test_test_switches_are_not_unknown_settings() -> None:
    assert load(dict.fromkeys(TEST_SWITCHES, "")) == Settings()


# Invalid values: one line naming the variable ---------------------------------------------------------

INVALID = [
    ("GMID_PORT", "abc"),
    ("GMID_PORT", "70000"),
    ("GMID_PORT", "0"),
    ("GMID_PORT", "80.5"),
    ("GMID_WORKERS", "0"),
    ("GMID_DATABASE_URL", "mysql://x"),
    ("GMID_DATABASE_URL", "gmid.sqlite3"),
    ("GMID_REDIS_URL", "http://x"),
    ("GMID_REDIS_URL", "localhost:6379"),
    ("GMID_RATE_LIMIT_IP", "5 per minute"),
    ("GMID_RATE_LIMIT_ACCOUNT", "5/fortnight"),
    ("GMID_RATE_LIMITS", "identity.auth.login=user:5/minute"),
    ("GMID_LOG_LEVEL", "LOUD"),
    ("GMID_ACCESS_LOG", "maybe"),
    ("GMID_RATE_LIMIT_ENABLED", "2"),
    ("GMID_PUBLIC_BASE_URL", "ftp://eid.example.cn"),
    ("GMID_WECHAT_API_BASE_URL", "api.weixin.qq.com"),
    ("GMID_MAX_BODY_BYTES", "10"),
    ("GMID_ACCESS_TOKEN_TTL", "1"),
]


@pytest.mark.parametrize(("variable", "value"), INVALID)
def test_invalid_value_is_one_line_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({variable: value})
    assert_one_line_naming(caught.value, variable)


def test_unknown_gmid_variable_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        load({"GMID_FOO": "1"})
    assert_one_line_naming(caught.value, "GMID_FOO")
    # A typo of a real name is caught the same way, not silently ignored.
    with pytest.raises(SettingsError) as caught:
        load({"GMID_DATABSE_URL": "postgres://x/y"})
    assert_one_line_naming(caught.value, "GMID_DATABSE_URL")
    # Variables that are not ours are none of our business.
    assert load({"PATH": "/bin", "GMIDX": "1", "DATABASE_URL": "mysql://x"}) == Settings()


def test_errors_do_not_echo_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        load({"GMID_DATABASE_URL": "mysql://root:hunter2-db-password@db/gmid"})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load({"GMID_REDIS_URL": "http://:redis-secret-77@cache:6379"})
    assert "redis-secret-77" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load({"GMID_ACCESS_TOKEN_SECRET": "tiny-secret-9"})
    message = assert_one_line_naming(caught.value, "GMID_ACCESS_TOKEN_SECRET")
    assert "tiny-secret-9" not in message


# .env -----------------------------------------------------------------------------------------------------


def write_env(folder: Path, text: str) -> Path:
    path = folder / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_file_is_read(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "# deployment settings\n"
        "\n"
        "GMID_PORT=9001\n"
        "export GMID_LOG_LEVEL=warning\n"
        'GMID_PUBLIC_BASE_URL="https://eid.example.cn"\n'
        "GMID_WECHAT_APPID='wx1234567890'\n"
        "OTHER_TOOL_SETTING=whatever\n",
    )
    settings = load({}, env_file=path)
    assert settings.port == 9001
    assert settings.log_level == "WARNING"
    assert settings.public_base_url == "https://eid.example.cn"
    assert settings.wechat_appid == "wx1234567890"


def test_real_environment_wins_over_env_file(tmp_path: Path) -> None:
    path = write_env(tmp_path, "GMID_PORT=9001\nGMID_WORKERS=3\n")
    settings = load({"GMID_PORT": "9002"}, env_file=path)
    assert settings.port == 9002
    assert settings.workers == 3
    # Even a bad value in .env does not matter when the environment overrides it.
    path = write_env(tmp_path, "GMID_PORT=abc\n")
    assert load({"GMID_PORT": "9003"}, env_file=path).port == 9003


def test_env_file_in_the_working_folder_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env(tmp_path, "GMID_PORT=9004\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).port == 9004


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    assert load({}, env_file=tmp_path / "no-such.env") == Settings()


def test_bad_env_file_is_one_line(tmp_path: Path) -> None:
    path = write_env(tmp_path, "GMID_PORT=70000\n")
    with pytest.raises(SettingsError) as caught:
        load({}, env_file=path)
    assert_one_line_naming(caught.value, "GMID_PORT")
    path = write_env(tmp_path, "GMID_FOO=1\n")
    with pytest.raises(SettingsError) as caught:
        load({}, env_file=path)
    assert_one_line_naming(caught.value, "GMID_FOO")
    path = write_env(tmp_path, "GMID_PORT=8001\nthis line has no equals sign\n")
    with pytest.raises(SettingsError) as caught:
        load({}, env_file=path)
    message = str(caught.value)
    assert "\n" not in message
    assert ".env" in message and ":2" in message


# The README lists every setting ------------------------------------------------------------------------


def test_readme_lists_every_setting() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\bGMID_[A-Z0-9_]*[A-Z0-9]\b", readme))
    missing = [spec.env for spec in SPECS if spec.env not in mentioned]
    assert not missing, f"README.md does not list: {', '.join(missing)}"
    unknown = mentioned - {spec.env for spec in SPECS} - TEST_SWITCHES
    assert not unknown, f"README.md names settings that do not exist: {', '.join(sorted(unknown))}"


# The command line stops with one line --------------------------------------------------------------------


def gmid_command() -> Path:
    beside_python = Path(sys.executable).parent / "gmid"
    return beside_python if beside_python.exists() else REPO / ".venv" / "bin" / "gmid"


def test_cli_with_an_invalid_setting_exits_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    var_dir = tmp_path / "var"
    env.update({"GMID_PORT": "abc", "GMID_VAR_DIR": str(var_dir)})
    result = subprocess.run(
        [str(gmid_command()), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "GMID_PORT" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "applied" not in result.stdout
    # Nothing was created: no database, no keys.
    assert not var_dir.exists() or not any(var_dir.rglob("*"))
