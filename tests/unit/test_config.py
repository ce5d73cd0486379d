"""Settings from ROOST_* variables: defaults, database URLs, bad values, the secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from roost.config import ConfigError, Settings, load_settings, normalise_database_url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def settings_for(data_dir: Path, **env: str) -> Settings:
    return load_settings({"ROOST_DATA_DIR": str(data_dir), **env})


def test_defaults(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    assert settings.data_dir == data_dir.resolve()
    assert settings.database_url == f"sqlite+aiosqlite:///{data_dir.resolve() / 'roost.sqlite3'}"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.domain is None
    assert settings.registrations == "open"
    assert settings.password_grant is True
    assert settings.max_status_chars == 500
    assert settings.log_level == "info"
    assert settings.source_url == ""
    assert (settings.password_hash_time_cost, settings.password_hash_memory_kib) == (3, 65536)


def test_default_data_dir_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert (tmp_path / "data" / "secret_key").exists()


def test_empty_values_mean_defaults(data_dir: Path) -> None:
    settings = settings_for(data_dir, ROOST_DATABASE_URL="", ROOST_REDIS_URL="", ROOST_DOMAIN="",
                            ROOST_REGISTRATIONS="", ROOST_PASSWORD_GRANT="",
                            ROOST_MAX_STATUS_CHARS="", ROOST_LOG_LEVEL="")
    assert settings == settings_for(data_dir)


def test_relative_data_dir_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"ROOST_DATA_DIR": "somewhere/else"})
    assert settings.data_dir == (tmp_path / "somewhere" / "else").resolve()
    assert settings.data_dir.is_absolute()


def test_values_are_read(data_dir: Path) -> None:
    settings = settings_for(
        data_dir,
        ROOST_DATABASE_URL="postgresql://roost:pw@db.internal:5432/roost",
        ROOST_REDIS_URL="redis://cache:6379/1",
        ROOST_DOMAIN="social.example",
        ROOST_SECRET_KEY="s3cret",
        ROOST_REGISTRATIONS=" Approval ",
        ROOST_PASSWORD_GRANT="off",
        ROOST_MAX_STATUS_CHARS="5000",
        ROOST_LOG_LEVEL="DEBUG",
        ROOST_SOURCE_URL="https://code.example/roost",
        ROOST_PASSWORD_HASH_TIME_COST="2",
        ROOST_PASSWORD_HASH_MEMORY_KIB="19456",
    )
    assert settings.database_url == "postgresql+psycopg://roost:pw@db.internal:5432/roost"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.domain == "social.example"
    assert settings.secret_key == "s3cret"
    assert settings.registrations == "approval"
    assert settings.password_grant is False
    assert settings.max_status_chars == 5000
    assert settings.log_level == "debug"
    assert settings.source_url == "https://code.example/roost"
    assert (settings.password_hash_time_cost, settings.password_hash_memory_kib) == (2, 19456)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db?ssl=require", "postgresql+psycopg://u@h/db?ssl=require"),
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite:////abs/path/roost.db", "sqlite+aiosqlite:////abs/path/roost.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_normalisation(url: str, normalised: str) -> None:
    assert normalise_database_url(url) == normalised


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgresql", "http://example.com", "sqlite:", " postgres://h/db"]
)
def test_unsupported_database_urls(url: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="ROOST_DATABASE_URL"):
        settings_for(data_dir, ROOST_DATABASE_URL=url)


@pytest.mark.parametrize("value", ["open", "approval", "closed", "OPEN", " closed "])
def test_registration_modes(value: str, data_dir: Path) -> None:
    assert settings_for(data_dir, ROOST_REGISTRATIONS=value).registrations == value.strip().lower()


@pytest.mark.parametrize("value", ["maybe", "true", "invite", "opened"])
def test_bad_registrations_raise(value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="ROOST_REGISTRATIONS") as caught:
        settings_for(data_dir, ROOST_REGISTRATIONS=value)
    assert repr(value.strip().lower()) in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True),
     ("0", False), ("FALSE", False), ("no", False), ("off", False)],
)
def test_password_grant_values(value: str, expected: bool, data_dir: Path) -> None:
    assert settings_for(data_dir, ROOST_PASSWORD_GRANT=value).password_grant is expected


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "y"])
def test_bad_password_grant_raises(value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="ROOST_PASSWORD_GRANT") as caught:
        settings_for(data_dir, ROOST_PASSWORD_GRANT=value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("value", ["0", "100001", "-5", "abc", "5.5", " 500", "²", "١٢٣"])
def test_bad_max_status_chars_raises(value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="ROOST_MAX_STATUS_CHARS"):
        settings_for(data_dir, ROOST_MAX_STATUS_CHARS=value)


def test_config_errors_are_value_errors() -> None:
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("value", ["github.com/roost", "ftp://code.example/roost"])
def test_bad_source_url_raises(value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="ROOST_SOURCE_URL"):
        settings_for(data_dir, ROOST_SOURCE_URL=value)


def test_secret_key_is_generated_once_and_reused(data_dir: Path) -> None:
    assert not data_dir.exists()
    first = settings_for(data_dir)
    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 48
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = settings_for(data_dir)
    assert second.secret_key == first.secret_key
    # Another data dir gets a key of its own.
    assert settings_for(data_dir.parent / "other").secret_key != first.secret_key


def test_configured_secret_key_wins_and_writes_nothing(data_dir: Path) -> None:
    settings = settings_for(data_dir, ROOST_SECRET_KEY="from-the-environment")
    assert settings.secret_key == "from-the-environment"
    assert not (data_dir / "secret_key").exists()


def test_existing_secret_key_file_is_used(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "secret_key").write_text("kept-from-before\n")
    assert settings_for(data_dir).secret_key == "kept-from-before"


@pytest.mark.parametrize(
    ("name", "value"),
    [("ROOST_PASSWORD_HASH_TIME_COST", "0"), ("ROOST_PASSWORD_HASH_MEMORY_KIB", "31"),
     ("ROOST_PASSWORD_HASH_MEMORY_KIB", "64MiB")],
)
def test_bad_password_hash_cost_raises(name: str, value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        settings_for(data_dir, **{name: value})


def test_redis_event_log_defaults(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    assert (settings.event_partitions, settings.event_stream_prefix) == (8, "roost:")
    assert (settings.event_stream_maxlen, settings.event_claim_idle_ms) == (1_000_000, 30_000)
    chosen = settings_for(data_dir, ROOST_EVENT_PARTITIONS="16",
                          ROOST_EVENT_STREAM_PREFIX="blue:", ROOST_EVENT_STREAM_MAXLEN="5000",
                          ROOST_EVENT_CLAIM_IDLE_MS="500")
    assert (chosen.event_partitions, chosen.event_stream_prefix) == (16, "blue:")
    assert (chosen.event_stream_maxlen, chosen.event_claim_idle_ms) == (5000, 500)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ROOST_EVENT_PARTITIONS", "0"), ("ROOST_EVENT_PARTITIONS", "1025"),
     ("ROOST_EVENT_PARTITIONS", "eight"), ("ROOST_EVENT_STREAM_MAXLEN", "999"),
     ("ROOST_EVENT_CLAIM_IDLE_MS", "99"), ("ROOST_EVENT_CLAIM_IDLE_MS", "-1"),
     ("ROOST_EVENT_STREAM_PREFIX", "has space:"), ("ROOST_EVENT_STREAM_PREFIX", "x" * 101)],
)
def test_bad_redis_event_log_settings_raise(name: str, value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        settings_for(data_dir, **{name: value})


def test_nats_event_log_settings(data_dir: Path) -> None:
    settings = settings_for(data_dir, ROOST_EVENT_LOG="nats://127.0.0.1:4222")
    assert settings.event_log == "nats://127.0.0.1:4222"
    assert (settings.event_nats_stream, settings.event_nats_ack_wait_ms) == ("ROOST_EVENTS", 30_000)
    chosen = settings_for(data_dir, ROOST_EVENT_NATS_STREAM="blue-Events_2",
                          ROOST_EVENT_NATS_ACK_WAIT_MS="1000")
    assert (chosen.event_nats_stream, chosen.event_nats_ack_wait_ms) == ("blue-Events_2", 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ROOST_EVENT_NATS_STREAM", "has.dot"), ("ROOST_EVENT_NATS_STREAM", "has space"),
     ("ROOST_EVENT_NATS_STREAM", "wild*"), ("ROOST_EVENT_NATS_STREAM", "x" * 65),
     ("ROOST_EVENT_NATS_STREAM", "strömung"), ("ROOST_EVENT_NATS_ACK_WAIT_MS", "99"),
     ("ROOST_EVENT_NATS_ACK_WAIT_MS", "1s")],
)
def test_bad_nats_event_log_settings_raise(name: str, value: str, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        settings_for(data_dir, **{name: value})
