"""Operator accounts: a name and a strong password hash each, never a password.

Accounts come from two places, read on each console request (both are small):

- the file named by ``IVR_OPERATORS_FILE``: one ``name:hash`` line each, written by
  ``ivr operator add NAME``;
- the ``IVR_OPERATORS`` variable, for platforms that take settings only from the
  environment: ``name:hash`` entries separated by spaces or commas.

The hash is werkzeug's scrypt (``scrypt:32768:8:1$salt$hash``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import click
from werkzeug.security import check_password_hash, generate_password_hash

FILE_VARIABLE = "IVR_OPERATORS_FILE"
LIST_VARIABLE = "IVR_OPERATORS"
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
HASH_METHOD = "scrypt"
MIN_PASSWORD = 10
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password, only a timing match", method=HASH_METHOD)


class AccountError(ValueError):
    """An operators file or entry that cannot be read; the message says where and what to do."""


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of a password."""
    return generate_password_hash(password, method=HASH_METHOD)


def parse(text: str, where: str) -> dict[str, str]:
    """Read ``name:hash`` entries, one per line or separated by spaces or commas; # starts a comment."""
    accounts: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for entry in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if entry:
                name, password_hash = _entry(entry, f"{where}:{number}")
                accounts[name] = password_hash
    return accounts


def _entry(entry: str, where: str) -> tuple[str, str]:
    """Split one ``name:hash`` entry, refusing anything that is not a name and a werkzeug hash."""
    name, _, password_hash = entry.partition(":")
    if not NAME.match(name) or "$" not in password_hash:
        raise AccountError(
            f"{where}: not a 'name:hash' entry; add operators with `ivr operator add NAME` instead of by hand"
        )
    return name, password_hash


def read_file(path: Path) -> dict[str, str]:
    """Read an operators file; a missing file has no accounts."""
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        return {}


def load(operators_file: str, operators: str) -> dict[str, str]:
    """Return every configured account, name to hash: the file's, then the variable's."""
    accounts = read_file(Path(operators_file)) if operators_file else {}
    accounts.update(parse(operators, LIST_VARIABLE) if operators else {})
    return accounts


def verify(accounts: Mapping[str, str], name: str, password: str) -> bool:
    """Say whether the password is this operator's, taking as long for an unknown name."""
    known = accounts.get(name)
    matched = check_password_hash(known or _DUMMY_HASH, password)
    return known is not None and matched


def save(path: Path, name: str, password_hash: str) -> None:
    """Add or replace one operator in the file, readable by this user only."""
    accounts = read_file(path)
    accounts[name] = password_hash
    body = "# Console operators: name:scrypt hash. Change with `ivr operator add NAME`.\n"
    body += "".join(f"{who}:{secret}\n" for who, secret in accounts.items())
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(body, encoding="utf-8")
    os.chmod(temporary, 0o600)
    temporary.replace(path)


@click.group(name="operator", help="Manage the people who can sign in to the console at /console.")
def operator() -> None:
    """Group the operator account commands."""


@operator.command(
    name="add",
    help=f"Add an operator (or change their password). With ${FILE_VARIABLE} set, the account is written "
    f"to that file; otherwise a line to put in the environment as ${LIST_VARIABLE} is printed.",
)
@click.argument("name")
@click.password_option(help=f"The operator's password, at least {MIN_PASSWORD} characters (asked for if not given).")
def add(name: str, password: str) -> None:
    """Ask for a password and keep only its hash."""
    if not NAME.match(name):
        raise click.BadParameter("use letters, digits, '.', '_', '@' or '-', up to 64 characters", param_hint="NAME")
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"the password is too short: use at least {MIN_PASSWORD} characters")
    password_hash = hash_password(password)
    target = os.environ.get(FILE_VARIABLE, "")
    if not target:
        click.echo(f"{FILE_VARIABLE} is not set, so nothing was written. Put this in the environment")
        click.echo("(add any other operators after a space):\n")
        click.echo(f"{LIST_VARIABLE}='{name}:{password_hash}'")
        return
    try:
        save(Path(target), name, password_hash)
    except (OSError, AccountError) as error:
        raise click.ClickException(f"could not write {target} ({error}); check {FILE_VARIABLE}") from None
    click.echo(f"ok: {name} can sign in to the console at /console (saved in {target})")


def register(group: click.Group) -> None:
    """Add the operator commands to a command group."""
    group.add_command(operator)
