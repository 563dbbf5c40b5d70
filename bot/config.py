"""Settings: a frozen dataclass built from the environment and an optional .env file.

Every setting is named once here. A .env line with an unknown key, or an unknown
``ROVEIT_*`` variable, is an error rather than silently ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

USERNAME = re.compile(r"^[A-Za-z0-9_-]{3,20}$")


class ConfigError(ValueError):
    """A setting that cannot be used; says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    discord_token: str = ""
    reddit_client_id: str = ""
    reddit_client_secret: str = ""
    reddit_username: str = ""
    reddit_password: str = ""
    reddit_refresh_token: str = ""
    reddit_user_agent: str = "roveit/0.1 (chat-ops bot for Reddit communities)"
    database_url: str = "sqlite:///roveit.sqlite3"
    roveit_admins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    reddit_oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = ""
    roveit_keep_items: int = 10_000
    roveit_replay_rate: float = 2.0  # items a second replayed on a first run
    roveit_replay_items: str = ""  # JSON-lines file for the first-run replay; "" = bundled sample
    roveit_webhook_allow_http: bool = False
    roveit_command_rate: int = 20  # commands a minute per user, in every chat
    roveit_poll_interval: float = 2.0  # the shortest wait between polls; the budget may stretch it
    roveit_lease_seconds: float = 15.0  # engine leader lease; a standby takes over within two

    @property
    def reddit_configured(self) -> bool:
        has_login = bool(self.reddit_username and self.reddit_password) or bool(
            self.reddit_refresh_token
        )
        return bool(self.reddit_client_id and self.reddit_client_secret and has_login)

    @property
    def discord_configured(self) -> bool:
        return bool(self.discord_token)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line."""
        values = (
            self.discord_token,
            self.reddit_client_secret,
            self.reddit_password,
            self.reddit_refresh_token,
        )
        return tuple(v for v in values if v)


KEYS = {f.name.upper(): f.name for f in fields(Settings)}


def _convert(name: str, raw: str, default: object) -> object:
    if name == "roveit_admins":
        admins = tuple(a.strip().removeprefix("u/") for a in re.split(r"[,\s]+", raw) if a.strip())
        bad = [a for a in admins if not USERNAME.match(a)]
        if bad:
            raise ConfigError(f"ROVEIT_ADMINS: {bad[0]!r} is not a Reddit username")
        return admins
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name.upper()}: {raw!r} is not true or false")
    if isinstance(default, int | float):
        try:
            return type(default)(raw)
        except ValueError:
            raise ConfigError(f"{name.upper()}: {raw!r} is not a number") from None
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments, optional quotes and ``export``."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        if key not in KEYS:
            raise ConfigError(f"{path}:{number}: unknown setting {key}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
) -> Settings:
    """Settings from a .env file (if present) overlaid by the environment."""
    env = dict(os.environ if environ is None else environ)
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        merged.update(read_dotenv(dotenv))
    unknown = sorted(k for k in env if k.startswith("ROVEIT_") and k not in KEYS)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]} in the environment")
    merged.update({k: v for k, v in env.items() if k in KEYS})
    defaults = Settings()
    values = {
        KEYS[key]: _convert(KEYS[key], raw, getattr(defaults, KEYS[key]))
        for key, raw in merged.items()
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be json or text, not {settings.log_format!r}")
    if settings.reddit_username and not USERNAME.match(settings.reddit_username):
        raise ConfigError("REDDIT_USERNAME is not a Reddit username (3-20 letters, digits, _ or -)")
    return settings
