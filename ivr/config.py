"""Settings from the environment, read and checked here once, with working defaults.

The server, `ivr doctor`, `ivr setup-number` and the other commands all read the
environment through :func:`from_environ` and judge it by the rules below, so they
never disagree about what a valid PUBLIC_URL, phone number or token is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 64 * 1024
TEXT_TTL_SECONDS = 24 * 60 * 60
E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # a whole number in international form, like +448088020300
AUTH_TOKEN = re.compile(r"[0-9a-f]{32}")  # Twilio's Auth Token: 32 hex characters
PUBLIC_URL_EXAMPLE = "https://ivr.example.org"


class ConfigError(Exception):
    """The environment cannot run the line; the message says what to set."""


def from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """Read the line's settings from environment variables."""
    return {
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", "").strip(),
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID", "").strip(),
        "PUBLIC_URL": env.get("PUBLIC_URL", "").strip().rstrip("/"),
        "REDIS_URL": env.get("REDIS_URL", "").strip(),
        "PROMPTS_DIR": env.get("PROMPTS_DIR", "").strip() or "prompts",
        "PROMPTS_SNAPSHOT": env.get("PROMPTS_SNAPSHOT", "").strip(),
        "SESSION_SECRET": env.get("SESSION_SECRET", ""),
        "DEV_MODE": env.get("IVR_DEV_MODE", "") == "1",
        "WEB_CONCURRENCY": env.get("WEB_CONCURRENCY", "").strip(),
        "PORT": env.get("PORT", "").strip(),
    }


def check(config: Mapping[str, Any]) -> None:
    """Refuse to run without what a live line needs."""
    if not config["TWILIO_AUTH_TOKEN"] and not config["DEV_MODE"]:
        raise ConfigError(
            "TWILIO_AUTH_TOKEN is not set: set it to the Auth Token from the Twilio console, "
            "or run `make run` for development"
        )
    public = config["PUBLIC_URL"]
    problem = public_url_problem(public, config["DEV_MODE"]) if public else None
    if problem:
        raise ConfigError(f"PUBLIC_URL {problem}: {safe_url(public)}: set it to the base URL Twilio calls, "
                          f"like {PUBLIC_URL_EXAMPLE}")


def public_url_problem(url: str, dev_mode: bool = False) -> str | None:
    """Say what is wrong with a PUBLIC_URL, or None: it is a plain https base URL (http only in development)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (dev_mode and parts.scheme == "http"):
        return "is not https"
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        return "is not a plain base URL (a host, no password, query or #)"
    return None


def number_problem(number: str) -> str | None:
    """Say why a phone number is not E.164, or None when it is."""
    if E164.fullmatch(number):
        return None
    return f"{number!r} is not an E.164 number: write it like +441234567890"


def token_problem(token: str) -> str | None:
    """Say why an auth token cannot be Twilio's, or None when it could be."""
    if not token:
        return "is not set"
    if not AUTH_TOKEN.fullmatch(token):
        return "is not 32 hex characters, so it is not a Twilio Auth Token: copy it from the Twilio console"
    return None


def is_loopback(host: str) -> bool:
    """Say whether a bind or URL host is this machine only (127.0.0.1, ::1, localhost)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dev_bind_problem(binds: Iterable[str]) -> str | None:
    """Say why a development server must not listen on these addresses, or None when all are loopback."""
    for bind in binds:
        host = bind.rpartition(":")[0] if ":" in bind else bind
        if not bind.startswith("unix:") and not is_loopback(host):
            return (f"IVR_DEV_MODE=1 does not check Twilio signatures, so it listens on 127.0.0.1 only, "
                    f"not {bind}: use `make run`, or unset IVR_DEV_MODE and set TWILIO_AUTH_TOKEN")
    return None


def safe_url(url: str) -> str:
    """Return a URL without its user, password or query, fit to print."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "(not a URL)"


def session_secret(config: Mapping[str, Any]) -> bytes:
    """Return the key for hashing callers' numbers: SESSION_SECRET, else one derived from the token."""
    if config["SESSION_SECRET"]:
        return config["SESSION_SECRET"].encode()
    token = config["TWILIO_AUTH_TOKEN"]
    if token:
        return hmac.new(token.encode(), b"ivr session keys", hashlib.sha256).digest()
    return secrets.token_bytes(32)
