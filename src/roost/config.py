"""Every setting Roost reads, from ROOST_* environment variables only.

The README's configuration table documents each one; keep the two in step.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Registrations = Literal["open", "approval", "closed"]
REGISTRATION_MODES: tuple[Registrations, ...] = ("open", "approval", "closed")


class ConfigError(ValueError):
    """A setting has a value Roost cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    domain: str | None
    secret_key: str
    registrations: Registrations
    password_grant: bool
    max_status_chars: int
    log_level: str
    # Rate limits (resilience/ratelimit.py, docs/ratelimits.md): requests per period
    # (seconds) per account or anonymous IP, and sign-ups per period per IP.
    rate_limits: bool = True
    rate_limit_requests: int = 300
    rate_limit_period: int = 300
    rate_limit_signups: int = 5
    rate_limit_signup_period: int = 1800
    rate_limit_key_prefix: str = "roost:rl:"
    # Where this server's source code can be had (the AGPL asks operators to offer it);
    # /api/v2/instance shows it. Empty until the operator sets it.
    source_url: str = ""
    # argon2id cost of new password hashes (security/passwords.py).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


def _http_url(name: str, raw: str | None) -> str:
    value = (raw or "").strip()
    if value and not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {raw!r}")
    return value


def _positive(name: str, raw: str | None, default: int, minimum: int = 1) -> int:
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= 1_000_000_000:
        raise ConfigError(
            f"{name} must be a whole number from {minimum} to 1000000000, not {raw!r}"
        )
    return int(text)


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and pick the async drivers ourselves.

    psycopg 3 is used for PostgreSQL because it works through PgBouncer in transaction
    mode once server-side prepared statements are off (see db/engine.py).
    """
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite+aiosqlite://"):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    raise ConfigError(f"ROOST_DATABASE_URL must be a postgresql:// or sqlite:// URL, not {url!r}")


def _secret_key(data_dir: Path, configured: str | None) -> str:
    if configured:
        return configured
    # Generated once and kept in the data dir, so sessions and signed forms survive restarts.
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("ROOST_DATA_DIR") or "./data").resolve()
    raw_url = env.get("ROOST_DATABASE_URL") or f"sqlite:///{data_dir / 'roost.sqlite3'}"
    registrations = (env.get("ROOST_REGISTRATIONS") or "open").strip().lower()
    if registrations not in REGISTRATION_MODES:
        raise ConfigError(
            f"ROOST_REGISTRATIONS must be one of {', '.join(REGISTRATION_MODES)}, "
            f"not {registrations!r}"
        )
    raw_limit = env.get("ROOST_MAX_STATUS_CHARS") or "500"
    # isascii(): superscripts and non-Latin digits pass isdigit() but are not wanted here.
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 100_000:
        raise ConfigError(f"ROOST_MAX_STATUS_CHARS must be 1 to 100000, not {raw_limit!r}")
    return Settings(
        data_dir=data_dir,
        database_url=normalise_database_url(raw_url),
        redis_url=env.get("ROOST_REDIS_URL") or None,
        domain=env.get("ROOST_DOMAIN") or None,
        secret_key=_secret_key(data_dir, env.get("ROOST_SECRET_KEY")),
        registrations=registrations,  # checked against REGISTRATION_MODES above
        password_grant=_bool("ROOST_PASSWORD_GRANT", env.get("ROOST_PASSWORD_GRANT"), True),
        max_status_chars=int(raw_limit),
        log_level=(env.get("ROOST_LOG_LEVEL") or "info").lower(),
        rate_limits=_bool("ROOST_RATE_LIMITS", env.get("ROOST_RATE_LIMITS"), True),
        rate_limit_requests=_positive(
            "ROOST_RATE_LIMIT_REQUESTS", env.get("ROOST_RATE_LIMIT_REQUESTS"), 300
        ),
        rate_limit_period=_positive(
            "ROOST_RATE_LIMIT_PERIOD", env.get("ROOST_RATE_LIMIT_PERIOD"), 300
        ),
        rate_limit_signups=_positive(
            "ROOST_RATE_LIMIT_SIGNUPS", env.get("ROOST_RATE_LIMIT_SIGNUPS"), 5
        ),
        rate_limit_signup_period=_positive(
            "ROOST_RATE_LIMIT_SIGNUP_PERIOD", env.get("ROOST_RATE_LIMIT_SIGNUP_PERIOD"), 1800
        ),
        rate_limit_key_prefix=env.get("ROOST_RATE_LIMIT_KEY_PREFIX") or "roost:rl:",
        source_url=_http_url("ROOST_SOURCE_URL", env.get("ROOST_SOURCE_URL")),
        password_hash_time_cost=_positive(
            "ROOST_PASSWORD_HASH_TIME_COST", env.get("ROOST_PASSWORD_HASH_TIME_COST"), 3
        ),
        # argon2 needs 8 KiB per lane, and Roost hashes with 4 lanes.
        password_hash_memory_kib=_positive(
            "ROOST_PASSWORD_HASH_MEMORY_KIB", env.get("ROOST_PASSWORD_HASH_MEMORY_KIB"),
            65536, minimum=32,
        ),
    )
