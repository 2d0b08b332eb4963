"""Operator commands: point a Twilio number at this app, and check a deployment's environment.

`register` adds them to the `ivr` command group:

- ``ivr setup-number NUMBER`` sets the number's voice and SMS webhooks to this app's
  URLs through the Twilio REST API, printing each setting's old and new value.
- ``ivr doctor`` checks the environment variables, Redis and the prompt files, one
  PASS / WARN / FAIL line each, and exits 1 if anything fails.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .script import load
from .store import StoreDown, open_store

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
API_TIMEOUT_SECONDS = 15.0
SLOW_REDIS_SECONDS = 0.050
PROCFILE_WORKERS = 2  # the Procfile's --workers ${WEB_CONCURRENCY:-2}
APPLICATION_FIELDS = ("voice_application_sid", "sms_application_sid")


# ---------------------------------------------------------------- setup-number


class RedirectingHttpClient(TwilioHttpClient):
    """A Twilio HTTP client that sends every request to the same path under another base URL.

    Only for testing against a local stub of the REST API (see ``TWILIO_API_BASE``):
    the twilio library builds ``https://api.twilio.com/2010-04-01/...`` URLs, and this
    client swaps the scheme and host for ``base_url`` just before sending.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send the request to base_url instead of Twilio's host."""
        parts = urlsplit(url)
        target = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, target, *args, **kwargs)


@dataclass(frozen=True)
class Change:
    """One setting of a phone number: its value now and the value it should have."""

    field: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        """Say whether the setting needs an update."""
        return self.old != self.new


def webhooks(public_url: str) -> dict[str, str]:
    """Return the number's settings that send its calls and texts to this app."""
    base = public_url.rstrip("/")
    return {
        "voice_url": f"{base}/voice",
        "voice_method": "POST",
        "voice_fallback_url": f"{base}/voice/fallback",
        "voice_fallback_method": "POST",
        "status_callback": f"{base}/voice/status",
        "status_callback_method": "POST",
        "sms_url": f"{base}/sms",
        "sms_method": "POST",
        "sms_fallback_url": f"{base}/sms/fallback",
        "sms_fallback_method": "POST",
    }


def plan(number: Any, public_url: str) -> list[Change]:
    """List the number's settings, old and new; an attached application is detached so the URLs apply."""
    changes = [Change(name, getattr(number, name, None) or "", new) for name, new in webhooks(public_url).items()]
    for name in APPLICATION_FIELDS:
        old = getattr(number, name, None) or ""
        if old:
            changes.append(Change(name, old, ""))
    return changes


def change_lines(changes: list[Change]) -> list[str]:
    """Word each setting as `field: old -> new`, or `field: value (unchanged)`."""
    width = max(len(change.field) for change in changes) + 1
    lines = []
    for change in changes:
        label = f"{change.field}:".ljust(width)
        if change.changed:
            lines.append(f"  {label}  {change.old or '(none)'} -> {change.new or '(none)'}")
        else:
            lines.append(f"  {label}  {change.old or '(none)'} (unchanged)")
    return lines


def twilio_client(env: Mapping[str, str], api_base: str | None = None) -> Client:
    """Make a REST client from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, optionally aimed at a stub."""
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        if not env.get(name):
            raise click.ClickException(f"{name} is not set: copy it from the Twilio console (Account Info)")
    if api_base is None:
        http_client = TwilioHttpClient(timeout=API_TIMEOUT_SECONDS)
    else:
        http_client = RedirectingHttpClient(api_base, timeout=API_TIMEOUT_SECONDS)
    return Client(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"], http_client=http_client, environment=env)


def _refused(status: int, message: str) -> click.ClickException:
    """Word an HTTP error from the REST API for the operator."""
    if status == 401:
        return click.ClickException(
            "Twilio refused the credentials (HTTP 401): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    return click.ClickException(f"Twilio answered HTTP {status}: {message}")


def _page_error(error: TwilioException) -> click.ClickException:
    """Word a failed list request, which twilio raises as TwilioException("Unable to fetch page", response)."""
    response = error.args[1] if len(error.args) == 2 else None
    if not isinstance(response, Response):
        return click.ClickException(f"unexpected answer from the Twilio API: {error}")
    try:
        message = str(json.loads(response.text).get("message", ""))
    except (ValueError, AttributeError):
        message = ""
    return _refused(response.status_code, message or "no message")


@contextmanager
def _twilio_errors() -> Iterator[None]:
    """Turn the REST API's failures into one-line messages for the operator."""
    try:
        yield
    except TwilioRestException as error:
        raise _refused(error.status, error.msg) from None
    except requests.RequestException as error:
        raise click.ClickException(f"could not reach the Twilio API: {type(error).__name__}") from None
    except TwilioException as error:
        raise _page_error(error) from None


def find_number(client: Client, number: str) -> Any:
    """Return the account's incoming phone number that is exactly number."""
    with _twilio_errors():
        # The PhoneNumber filter also matches partial numbers, so keep only the exact one.
        found = client.incoming_phone_numbers.list(phone_number=number, limit=20)
    match = next((item for item in found if item.phone_number == number), None)
    if match is None:
        raise click.ClickException(f"no number {number} in this account")
    return match


def _check_number(number: str) -> str:
    number = number.strip()
    if not E164.fullmatch(number):
        raise click.ClickException(f"{number!r} is not an E.164 number: write it like +441234567890")
    return number


def _check_public_url(public_url: str | None) -> str:
    if not public_url:
        raise click.ClickException("set PUBLIC_URL or pass --public-url: the https base URL of this app")
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise click.ClickException(
            f"the public URL must be a plain https:// base URL, like https://ivr.example.org, not {public_url!r}"
        )
    return public_url.rstrip("/")


def _check_api_base(api_base: str | None) -> str | None:
    if not api_base:
        return None
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.ClickException(f"TWILIO_API_BASE must be a base URL like http://127.0.0.1:8080, not {api_base!r}")
    click.echo(f"note: sending Twilio API requests to {api_base} (TWILIO_API_BASE), not to Twilio", err=True)
    return api_base


@click.command(
    "setup-number",
    help="Point the Twilio number NUMBER (E.164, like +441234567890) at this app: voice, fallback, "
    "status and SMS webhooks, all POST. Prints each setting's old and new value. Needs "
    "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
)
@click.argument("number")
@click.option(
    "--public-url", envvar="PUBLIC_URL", default=None,
    help="The https base URL Twilio should call, like https://ivr.example.org (default: $PUBLIC_URL).",
)
@click.option("--dry-run", is_flag=True, help="Print what would change and change nothing.")
@click.option(
    "--api-base", envvar="TWILIO_API_BASE", default=None, hidden=True,
    help="For testing against a stub: send REST API requests to this base URL instead of https://api.twilio.com.",
)
def setup_number(number: str, public_url: str | None, dry_run: bool, api_base: str | None) -> None:
    """Set the number's webhooks to this app's URLs, printing each setting's old and new value.

    The hidden ``--api-base`` option (env ``TWILIO_API_BASE``) exists only for testing
    against a local stub of the REST API; it is announced on stderr whenever it is used.
    """
    number = _check_number(number)
    public_url = _check_public_url(public_url)
    client = twilio_client(os.environ, _check_api_base(api_base))
    found = find_number(client, number)
    if found.trunk_sid:
        raise click.ClickException(
            f"{number} is on SIP trunk {found.trunk_sid}, so its calls never reach the voice URL: "
            "remove it from the trunk in the Twilio console first"
        )
    changes = plan(found, public_url)
    click.echo(f"{number} ({found.sid})")
    for line in change_lines(changes):
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing changed")
    elif not any(change.changed for change in changes):
        click.echo("nothing to change")
    else:
        # Send every setting, not only the changed ones, so the number ends exactly as planned.
        with _twilio_errors():
            client.incoming_phone_numbers(found.sid).update(**{change.field: change.new for change in changes})
        click.echo("updated")


# ---------------------------------------------------------------------- doctor


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: PASS, WARN or FAIL, and what was found."""

    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.status}  {self.message}"


def _pass(message: str) -> Finding:
    return Finding("PASS", message)


def _warn(message: str) -> Finding:
    return Finding("WARN", message)


def _fail(message: str) -> Finding:
    return Finding("FAIL", message)


def safe_url(url: str) -> str:
    """Return a URL without its user, password or query, fit to print."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "(not a URL)"


def check_token(env: Mapping[str, str]) -> list[Finding]:
    """Check that the auth token is set, without ever showing it."""
    if env.get("TWILIO_AUTH_TOKEN"):
        return [_pass("TWILIO_AUTH_TOKEN is set")]
    return [_fail("TWILIO_AUTH_TOKEN is not set: the server refuses to start without it")]


def check_dev_mode(env: Mapping[str, str]) -> list[Finding]:
    """Check that development mode, which skips signature checks, is off."""
    if env.get("IVR_DEV_MODE", "") == "1":
        return [_fail("IVR_DEV_MODE=1: Twilio signatures are not checked (development only)")]
    return [_pass("IVR_DEV_MODE is off: Twilio signatures are checked")]


def check_public_url(env: Mapping[str, str]) -> list[Finding]:
    """Check that PUBLIC_URL is set and https."""
    url = env.get("PUBLIC_URL", "").rstrip("/")
    if not url:
        return [_fail("PUBLIC_URL is not set: set the https base URL Twilio calls, like https://ivr.example.org")]
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        return [_fail(f"PUBLIC_URL is not https: {safe_url(url)}")]
    return [_pass(f"PUBLIC_URL is https: {safe_url(url)}")]


def check_redis(env: Mapping[str, str]) -> list[Finding]:
    """Check that Redis is configured, answers, and answers fast."""
    url = env.get("REDIS_URL", "")
    if not url:
        return [_warn("REDIS_URL is not set: embedded store: one process only")]
    found = [_pass(f"REDIS_URL is set: {safe_url(url)}")]
    try:
        store = open_store(url)
        store.ping()  # the first ping also connects; time the ones after
        seconds = min(store.ping() for _ in range(3))
    except ValueError:
        return [*found, _fail(f"REDIS_URL is not a Redis URL: {safe_url(url)} (use redis:// or rediss://)")]
    except StoreDown as error:
        return [*found, _fail(f"Redis is unreachable at {safe_url(url)} ({error})")]
    ms = seconds * 1000
    if seconds > SLOW_REDIS_SECONDS:
        return [*found, _warn(f"Redis is slow: {ms:.1f} ms round trip (over {SLOW_REDIS_SECONDS * 1000:.0f} ms)")]
    return [*found, _pass(f"Redis is reachable: {ms:.1f} ms round trip")]


def check_prompts(env: Mapping[str, str]) -> list[Finding]:
    """Check that the prompt files load with no errors."""
    root = env.get("PROMPTS_DIR") or "prompts"
    loaded = load(root)
    errors = loaded.errors
    if errors:
        return [_fail(f"prompt files in {root} have {len(errors)} error(s), first: {errors[0]} (run `ivr check`)")]
    warnings = len(loaded.problems)
    return [_pass(f"prompt files in {root} are valid ({warnings} warning(s))")]


def check_session_secret(env: Mapping[str, str]) -> list[Finding]:
    """Check that SESSION_SECRET is set, without showing it."""
    if env.get("SESSION_SECRET"):
        return [_pass("SESSION_SECRET is set")]
    return [_warn("SESSION_SECRET is not set: derived from the auth token, so rotating the token forgets sessions")]


def check_workers(env: Mapping[str, str]) -> list[Finding]:
    """Check that several workers are not each given their own embedded store."""
    raw = env.get("WEB_CONCURRENCY", "").strip()
    try:
        workers = int(raw) if raw else PROCFILE_WORKERS
    except ValueError:
        return [_fail(f"WEB_CONCURRENCY is not a whole number: {raw!r}")]
    described = f"WEB_CONCURRENCY is {workers}" + ("" if raw else " (the Procfile's default)")
    if workers < 1:
        return [_fail(f"{described}: at least one worker is needed")]
    if workers > 1 and not env.get("REDIS_URL"):
        return [_fail(f"{described} with no REDIS_URL: the embedded store cannot be shared between workers")]
    return [_pass(described)]


CHECKS = (
    check_token, check_dev_mode, check_public_url, check_redis, check_prompts, check_session_secret, check_workers,
)


def diagnose(env: Mapping[str, str]) -> list[Finding]:
    """Run every check of a deployment's environment, in order."""
    return [finding for check in CHECKS for finding in check(env)]


@click.command(
    help="Check this deployment's environment: the Twilio token, PUBLIC_URL, Redis and its latency, "
    "the prompt files, SESSION_SECRET and the worker count. One PASS, WARN or FAIL line each; "
    "exits 1 if any check fails. Never prints a secret."
)
def doctor() -> None:
    """Print one line per check and exit 1 if any failed."""
    findings = diagnose(os.environ)
    for finding in findings:
        click.echo(str(finding))
    failed = sum(finding.status == "FAIL" for finding in findings)
    warned = sum(finding.status == "WARN" for finding in findings)
    if failed:
        raise click.ClickException(f"{failed} check(s) failed, {warned} warning(s)")
    click.echo(f"ok: ready to run ({warned} warning(s))")


def register(group: click.Group) -> None:
    """Add the operator commands to a command group."""
    group.add_command(setup_number)
    group.add_command(doctor)
