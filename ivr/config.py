"""Settings from the environment, with working defaults."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

MAX_BODY_BYTES = 64 * 1024
CALL_TTL_SECONDS = 60 * 60
TEXT_TTL_SECONDS = 24 * 60 * 60


class ConfigError(Exception):
    """The environment cannot run the line; the message says what to set."""


def from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """Read the line's settings from environment variables."""
    return {
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", ""),
        "PUBLIC_URL": env.get("PUBLIC_URL", "").rstrip("/"),
        "REDIS_URL": env.get("REDIS_URL", ""),
        "PROMPTS_DIR": env.get("PROMPTS_DIR", "prompts"),
        "PROMPTS_SNAPSHOT": env.get("PROMPTS_SNAPSHOT", ""),
        "SESSION_SECRET": env.get("SESSION_SECRET", ""),
        "DEV_MODE": env.get("IVR_DEV_MODE", "") == "1",
    }


def check(config: Mapping[str, Any]) -> None:
    """Refuse to run without what a live line needs."""
    if not config["TWILIO_AUTH_TOKEN"] and not config["DEV_MODE"]:
        raise ConfigError(
            "TWILIO_AUTH_TOKEN is not set: set it to the Auth Token from the Twilio console, "
            "or run `make run` for development"
        )
    public = config["PUBLIC_URL"]
    if public and not public.startswith(("https://", "http://")):
        raise ConfigError(f"PUBLIC_URL {public!r} should be the full base URL, like https://ivr.example.org")


def session_secret(config: Mapping[str, Any]) -> bytes:
    """Return the key for hashing callers' numbers: SESSION_SECRET, else one derived from the token."""
    if config["SESSION_SECRET"]:
        return config["SESSION_SECRET"].encode()
    token = config["TWILIO_AUTH_TOKEN"]
    if token:
        return hmac.new(token.encode(), b"ivr session keys", hashlib.sha256).digest()
    return secrets.token_bytes(32)
