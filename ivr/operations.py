"""Operator commands: point a Twilio number at this app, and check a deployment's environment.

`register` adds them to the `ivr` command group:

- ``ivr setup-number NUMBER`` sets the number's voice and SMS webhooks to this app's
  URLs through the Twilio REST API, printing each setting's old and new value.
- ``ivr doctor`` checks the environment variables, Redis and the prompt files, one
  PASS / WARN / FAIL line each, and exits 1 if anything fails.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from . import config
from .config import safe_url
from .script import load
from .store import StoreDown, open_store

API_TIMEOUT_SECONDS = 15.0
SLOW_REDIS_SECONDS = 0.050
PROCFILE_WORKERS = 2  # the Procfile's --workers ${WEB_CONCURRENCY:-2}
APPLICATION_FIELDS = ("voice_application_sid", "sms_application_sid")


# ---------------------------------------------------------------- setup-number


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


def twilio_client(env: Mapping[str, str], http_client: HttpClient | None = None) -> Client:
    """Make a REST client from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN; tests pass their own http_client."""
    settings = config.from_environ(env)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        if not settings[name]:
            raise click.ClickException(f"{name} is not set: copy it from the Twilio console (Account Info)")
    http_client = http_client or TwilioHttpClient(timeout=API_TIMEOUT_SECONDS)
    return Client(
        settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"], http_client=http_client, environment=env
    )


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
    problem = config.number_problem(number)
    if problem:
        raise click.ClickException(problem)
    return number


def _check_public_url(public_url: str | None) -> str:
    public_url = (public_url or "").strip().rstrip("/")
    if not public_url:
        raise click.ClickException("set PUBLIC_URL or pass --public-url: the https base URL of this app")
    problem = config.public_url_problem(public_url)
    if problem:
        raise click.ClickException(
            f"the public URL {problem}: {safe_url(public_url)}: write it like {config.PUBLIC_URL_EXAMPLE}"
        )
    return public_url


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
@click.pass_context
def setup_number(context: click.Context, number: str, public_url: str | None, dry_run: bool) -> None:
    """Set the number's webhooks to this app's URLs, printing each setting's old and new value.

    Tests hand in twilio-python's HTTP client as ``obj={"twilio_http_client": ...}``;
    nothing in the environment can send the account's credentials to another host.
    """
    number = _check_number(number)
    public_url = _check_public_url(public_url)
    http_client = (context.obj or {}).get("twilio_http_client") if isinstance(context.obj, dict) else None
    client = twilio_client(os.environ, http_client)
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


def check_token(env: Mapping[str, str]) -> list[Finding]:
    """Check that the auth token is set and shaped like Twilio's, without ever showing it."""
    problem = config.token_problem(config.from_environ(env)["TWILIO_AUTH_TOKEN"])
    if problem is None:
        return [_pass("TWILIO_AUTH_TOKEN is set")]
    if problem == "is not set":
        return [_fail("TWILIO_AUTH_TOKEN is not set: the server refuses to start without it")]
    return [_fail(f"TWILIO_AUTH_TOKEN {problem}")]


def check_dev_mode(env: Mapping[str, str]) -> list[Finding]:
    """Check that development mode, which skips signature checks, is off."""
    if config.from_environ(env)["DEV_MODE"]:
        return [_fail("IVR_DEV_MODE=1: Twilio signatures are not checked (development only)")]
    return [_pass("IVR_DEV_MODE is off: Twilio signatures are checked")]


def check_public_url(env: Mapping[str, str]) -> list[Finding]:
    """Check PUBLIC_URL by the server's own rule, and repeat the buffering-proxy advice when it is this server."""
    settings = config.from_environ(env)
    url = settings["PUBLIC_URL"]
    if not url:
        return [_fail(f"PUBLIC_URL is not set: set the https base URL Twilio calls, like {config.PUBLIC_URL_EXAMPLE}")]
    problem = config.public_url_problem(url)
    if problem:
        return [_fail(f"PUBLIC_URL {problem}: {safe_url(url)}")]
    found = [_pass(f"PUBLIC_URL is https: {safe_url(url)}")]
    if _is_this_server(url, settings["PORT"]):
        found.append(_warn(BUFFERING_ADVICE))
    return found


BUFFERING_ADVICE = (
    "PUBLIC_URL looks like this server itself (an IP address, localhost or its own PORT): put a buffering "
    "proxy in front (nginx with proxy_request_buffering on, or a platform router that buffers), or slow "
    "clients can hold every worker past Twilio's 15 s; see README, Deploying"
)


def _is_this_server(url: str, port: str) -> bool:
    """Say whether a PUBLIC_URL reaches gunicorn directly: an IP address, localhost, or the server's own PORT."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return config.is_loopback(host) or (parts.port is not None and str(parts.port) == (port or "5000"))


def check_redis(env: Mapping[str, str]) -> list[Finding]:
    """Check that Redis is configured, answers, and answers fast."""
    url = config.from_environ(env)["REDIS_URL"]
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
    root = config.from_environ(env)["PROMPTS_DIR"]
    loaded = load(root)
    errors = loaded.errors
    if errors:
        return [_fail(f"prompt files in {root} have {len(errors)} error(s), first: {errors[0]} (run `ivr check`)")]
    warnings = len(loaded.problems)
    return [_pass(f"prompt files in {root} are valid ({warnings} warning(s))")]


def check_session_secret(env: Mapping[str, str]) -> list[Finding]:
    """Check that SESSION_SECRET is set, without showing it."""
    if config.from_environ(env)["SESSION_SECRET"]:
        return [_pass("SESSION_SECRET is set")]
    return [_warn("SESSION_SECRET is not set: derived from the auth token, so rotating the token forgets sessions")]


def check_workers(env: Mapping[str, str]) -> list[Finding]:
    """Check that several workers are not each given their own embedded store."""
    settings = config.from_environ(env)
    raw = settings["WEB_CONCURRENCY"]
    try:
        workers = int(raw) if raw else PROCFILE_WORKERS
    except ValueError:
        return [_fail(f"WEB_CONCURRENCY is not a whole number: {raw!r}")]
    described = f"WEB_CONCURRENCY is {workers}" + ("" if raw else " (the Procfile's default)")
    if workers < 1:
        return [_fail(f"{described}: at least one worker is needed")]
    if workers > 1 and not settings["REDIS_URL"]:
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
