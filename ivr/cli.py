"""The `ivr` command: check the prompts, try the line in a terminal, ask about hours."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import click

from . import config, logs, operations, prompt_stats, stats
from .channels import CHANNELS, by_name
from .console import accounts
from .hours import parse_moment, status_line, week_lines
from .phone import FAKE_CALLER, FlaskTransport, HttpTransport, LineUnreachable, Phone, Turn, describe_text
from .prompt_files import iter_problems
from .script import Script, load
from .store import RedisStore, StoreDown
from .twilio_status import DIAL_ENDINGS

DIAL_CHOICES = DIAL_ENDINGS


def _prompts_dir(value: str | None) -> Path:
    return Path(value or config.from_environ(os.environ)["PROMPTS_DIR"])


prompts_option = click.option(
    "--prompts", "prompts", metavar="DIR", default=None,
    help="The prompts folder (default: $PROMPTS_DIR, else ./prompts).",
)


@click.group(help="The helpline's telephone and SMS line.")
def main() -> None:
    """Group the line's commands."""


@main.command(help="Check every prompt file; print each problem as path:line: message.")
@prompts_option
@click.option(
    "--stats", is_flag=True, help="Also show how long each prompt takes to say and what each text costs."
)
def check(prompts: str | None, stats: bool) -> None:
    """Validate the prompt files, exiting 1 if any is broken."""
    root = _prompts_dir(prompts)
    loaded = load(root)
    for problem in iter_problems(loaded.problems):
        click.echo(str(problem))
    if stats:
        for line in prompt_stats.lines(loaded):
            click.echo(line)
    errors, warnings = len(loaded.errors), len(loaded.problems) - len(loaded.errors)
    if errors:
        raise click.ClickException(
            f"{errors} problem(s) and {warnings} warning(s) in {root}: fix the problems above, "
            "then run `ivr check` again"
        )
    click.echo(f"ok: the prompt files in {root} are ready ({warnings} warning(s))")


def _at(value: str | None, script_tz: str = "Europe/London") -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value, script_tz)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--at") from None


def _local_phone(prompts: str | None, at: datetime | None, caller: str) -> Phone:
    """A phone wired to an app in this process, on the embedded store."""
    from . import create_app
    from .store import EmbeddedStore

    token = secrets.token_hex(16)
    settings = {
        "TWILIO_AUTH_TOKEN": token, "DEV_MODE": False, "PUBLIC_URL": "",
        "PROMPTS_DIR": str(_prompts_dir(prompts)), "STORE": EmbeddedStore(), "REDIS_URL": "",
    }
    if at is not None:
        settings["CLOCK"] = lambda: at
    app = create_app(settings)
    return Phone(FlaskTransport(app), "http://localhost", token, caller)


@contextmanager
def _quiet() -> Iterator[None]:
    """Show the operator the transcript, not the in-process line's log line per key."""
    logs.setup()
    logger = logging.getLogger("ivr")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _phone(url: str | None, token: str | None, prompts: str | None, at: datetime | None, caller: str) -> Phone:
    if url is None:
        return _local_phone(prompts, at, caller)
    if at is not None:
        raise click.UsageError("--at works only without --url: a running server uses its own clock")
    token = token or config.from_environ(os.environ)["TWILIO_AUTH_TOKEN"]
    if not token:
        raise click.UsageError("set TWILIO_AUTH_TOKEN (or --token) to sign requests to a running server")
    return Phone(HttpTransport(), url, token, caller)


@contextmanager
def _reaching(url: str | None) -> Iterator[None]:
    """Say in one line, and exit 2, when nothing answers at --url."""
    try:
        yield
    except LineUnreachable:
        click.echo(f"nothing answers at {url}: is the line running?", err=True)
        sys.exit(2)


url_option = click.option(
    "--url", default=None, help="Drive a running server instead, e.g. http://127.0.0.1:5000."
)
token_option = click.option(
    "--token", default=None, help="Auth token to sign with (default: $TWILIO_AUTH_TOKEN)."
)
at_option = click.option("--at", "at", default=None, help="Pretend it is this time, e.g. 2026-12-25T10:00.")
from_option = click.option(
    "--from", "caller", default=FAKE_CALLER, show_default=True,
    help="The pretend number to call or text from: another number is not held back by the repeat limits.",
)


@main.command(help="Make a pretend phone call in the terminal. Type keys (1, *, 0...), "
              "'say <words>', Enter for silence, or 'hangup'.")
@url_option
@token_option
@prompts_option
@at_option
@from_option
def call(url: str | None, token: str | None, prompts: str | None, at: str | None, caller: str) -> None:
    """Play a caller: print what the line says, send what is typed."""
    with _quiet(), _reaching(url):
        _call(_phone(url, token, prompts, _at(at), caller))


def _call(phone: Phone) -> None:
    echo = not sys.stdin.isatty()
    turn = phone.ring()
    _show(turn)
    while not turn.ended:
        line = _ask("dial result" if turn.dials else "keys", echo)
        if line is None or line.strip().lower() in ("hangup", "quit", "exit"):
            break
        turn = _step(phone, turn, line.strip())
        _show(turn)
    phone.hang_up()
    click.echo("(call ended)")


def _ask(what: str, echo: bool) -> str | None:
    try:
        line = input(f"[{what}]> ")
    except EOFError:
        return None
    if echo:
        click.echo(line)
    return line


def _step(phone: Phone, turn: Turn, line: str) -> Turn:
    if turn.dials:
        status = line.lower() or "completed"
        if status not in DIAL_CHOICES:
            click.echo(f"  (type one of: {', '.join(DIAL_CHOICES)})")
            return turn
        return phone.transfer_ends(turn, status)
    if not line:
        return phone.wait(turn)
    if line.lower().startswith("say "):
        return phone.say(turn, line[4:])
    return phone.press(turn, line.replace(" ", ""))


def _show(turn: Turn) -> None:
    if turn.status != 200:
        click.echo(f"  (the line answered HTTP {turn.status})")
    for said in turn.says:
        click.echo(f"  says: {said}")
    if turn.dials:
        click.echo(f"  TRANSFER: ringing {turn.dials}. How did it go? "
                   f"({', '.join(DIAL_CHOICES)}; Enter = completed)")
    elif turn.hung_up:
        click.echo("  HANGS UP")


@main.command(help="Text the line from the terminal: one message per line; each reply shows its cost.")
@url_option
@token_option
@prompts_option
@at_option
@from_option
@click.option("--channel", "channel_name", type=click.Choice([channel.name for channel in CHANNELS]),
              default="sms", show_default=True, help="Text as an SMS, or as a WhatsApp message with its fields.")
def text(
    url: str | None, token: str | None, prompts: str | None, at: str | None, caller: str, channel_name: str
) -> None:
    """Play a texter: send each typed line, print each reply and its segments."""
    with _quiet(), _reaching(url):
        phone = _phone(url, token, prompts, _at(at), caller)
        phone.channel = by_name(channel_name)
        _text(phone)


def _text(phone: Phone) -> None:
    echo = not sys.stdin.isatty()
    while True:
        line = _ask("text", echo)
        if line is None or line.strip().lower() in ("quit", "exit"):
            break
        turn = phone.text(line)
        if turn.status != 200:
            click.echo(f"  (the line answered HTTP {turn.status})")
        elif turn.message is None:
            click.echo("  (no reply)")
        else:
            click.echo(f"  reply {describe_text(turn.message, phone.channel)}:")
            for reply_line in turn.message.splitlines():
                click.echo(f"    {reply_line}")


@main.command(help="Say whether the helpline is open now (or --at a time), and when that changes.")
@prompts_option
@at_option
@click.option("--week", is_flag=True, help="Print the opening hours of the coming seven days.")
def hours(prompts: str | None, at: str | None, week: bool) -> None:
    """Print `open` or `closed`, then when it next closes or opens."""
    script = _script(prompts)
    tz = script.service.hours.timezone
    moment = _at(at, tz) or datetime.now(UTC)
    click.echo(status_line(script.hours, moment, script.default.when))
    if week:
        for line in week_lines(script.hours, moment):
            click.echo(line)


@main.command(name="stats", help="Print anonymous daily counts from Redis: calls, texts, topics, transfers.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, stats.KEEP_DAYS), help="How many days.")
@click.option("--until", "until", default=None, help="The last day to show, e.g. 2026-11-30 (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per day, for machines.")
@click.option("--redis-url", default=None, help="The Redis to read (default: $REDIS_URL).")
def stats_command(days: int, until: str | None, as_json: bool, redis_url: str | None) -> None:
    """Show the last days' counts, oldest first."""
    url = redis_url or config.from_environ(os.environ)["REDIS_URL"]
    if not url:
        raise click.ClickException("set REDIS_URL (or --redis-url): statistics are kept in Redis")
    try:
        last = date.fromisoformat(until) if until else datetime.now(stats.LONDON).date()
    except ValueError:
        raise click.BadParameter(f"{until!r} is not a date like 2026-11-30", param_hint="--until") from None
    wanted = stats.days_back(last, days)
    try:
        raw = RedisStore(url).counts([stats.day_key(day) for day in wanted])
    except StoreDown as error:
        raise click.ClickException(f"Redis at REDIS_URL did not answer ({error})") from None
    rows = [stats.summary(day, counts) for day, counts in zip(wanted, raw, strict=True)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for line in stats.table(rows):
        click.echo(line)


def _script(prompts: str | None) -> Script:
    loaded = load(_prompts_dir(prompts))
    if loaded.script is None:
        first = loaded.errors[0] if loaded.errors else "no prompts"
        raise click.ClickException(f"the prompt files are broken ({first}): run `ivr check`")
    return loaded.script


operations.register(main)
accounts.register(main)
