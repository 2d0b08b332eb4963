"""The console's accounts, sign-in, lockout and pages, through Flask and real Redis."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from ivr.cli import main
from ivr.console import accounts, guard
from ivr.console.guard import FREE_TRIES, IDLE_SECONDS, LOCK_AFTER, LOCK_SECONDS, Lockout, Sessions
from ivr.phone import Phone
from ivr.store import EmbeddedStore, RedisStore, StoreDown

from .conftest import REDIS_URL

PASSWORD = "correct horse battery staple"
HASH = accounts.hash_password(PASSWORD)


@pytest.fixture
def console(make_app: Callable[..., object]) -> object:
    return make_app(OPERATORS=f"ann:{HASH}", OPERATORS_FILE="")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _sign_in(client: object, password: str = PASSWORD) -> object:
    token = _csrf(client.get("/console/login").text)
    return client.post("/console/login", data={"csrf": token, "name": "ann", "password": password})


# ---------------------------------------------------------------- accounts


def test_the_operators_file_keeps_one_hash_per_name(tmp_path: Path) -> None:
    path = tmp_path / "operators"
    accounts.save(path, "ann", accounts.hash_password("first password"))
    accounts.save(path, "bob", HASH)
    accounts.save(path, "ann", HASH)
    found = accounts.read_file(path)
    assert set(found) == {"ann", "bob"}
    assert "first password" not in path.read_text() and PASSWORD not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert accounts.verify(found, "ann", PASSWORD)
    assert not accounts.verify(found, "ann", "first password")
    assert not accounts.verify(found, "nobody", PASSWORD)


def test_hashes_are_salted_scrypt() -> None:
    first, second = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert first.startswith("scrypt:") and first != second


def test_accounts_come_from_the_file_and_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "operators"
    path.write_text(f"# operators\nann:{HASH}\n")
    found = accounts.load(str(path), f"bob:{HASH}, cy:{HASH}")
    assert sorted(found) == ["ann", "bob", "cy"]
    assert accounts.load(str(tmp_path / "missing"), "") == {}


def test_a_hand_edited_entry_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "operators"
    path.write_text(f"ann:{HASH}\nbob password123\n")
    with pytest.raises(accounts.AccountError, match=r"operators:2: not a 'name:hash' entry"):
        accounts.read_file(path)


def test_operator_add_writes_only_a_hash_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "operators"
    monkeypatch.setenv(accounts.FILE_VARIABLE, str(path))
    result = CliRunner().invoke(main, ["operator", "add", "ann"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "ok: ann can sign in" in result.output
    assert accounts.verify(accounts.read_file(path), "ann", PASSWORD)
    assert PASSWORD not in path.read_text()


def test_operator_add_prints_a_line_for_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accounts.FILE_VARIABLE, raising=False)
    result = CliRunner().invoke(main, ["operator", "add", "ann"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("IVR_OPERATORS="))
    assert accounts.verify(accounts.parse(line.split("=", 1)[1].strip("'"), "env"), "ann", PASSWORD)


def test_operator_add_refuses_a_short_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accounts.FILE_VARIABLE, raising=False)
    result = CliRunner().invoke(main, ["operator", "add", "ann"], input="short\nshort\n")
    assert result.exit_code == 1 and "too short" in result.output


# ---------------------------------------------------------------- lockout and sessions


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_slow_then_pause_an_address() -> None:
    clock = FakeClock()
    lockout = Lockout(EmbeddedStore(clock=clock), b"secret")
    for _ in range(FREE_TRIES - 1):
        lockout.failed("10.0.0.1")
    assert lockout.refusal("10.0.0.1") == ""
    lockout.failed("10.0.0.1")
    assert "Wait a moment" in lockout.refusal("10.0.0.1")
    assert lockout.refusal("10.0.0.2") == ""  # another address is not slowed
    clock.now += 1.5
    assert lockout.refusal("10.0.0.1") == ""
    for _ in range(LOCK_AFTER - FREE_TRIES):
        lockout.failed("10.0.0.1")
    assert "paused for 15 minutes" in lockout.refusal("10.0.0.1")
    clock.now += LOCK_SECONDS + 1
    assert lockout.refusal("10.0.0.1") == ""


def test_the_lockout_counts_in_redis_with_a_ttl_and_no_address(redis_client: redis.Redis) -> None:
    lockout = Lockout(RedisStore(REDIS_URL), b"secret")
    for _ in range(LOCK_AFTER):
        lockout.failed("192.0.2.7")
    assert "paused" in lockout.refusal("192.0.2.7")
    keys = [key.decode() for key in redis_client.scan_iter(match="ivr:console:*")]
    assert keys and all("192.0.2.7" not in key for key in keys)
    assert all(0 < redis_client.ttl(key) <= LOCK_SECONDS for key in keys)
    lockout.succeeded("192.0.2.7")
    assert lockout.refusal("192.0.2.7") == ""


class DownStore(EmbeddedStore):
    def count(self, tally: object) -> None:
        raise StoreDown("down")

    def counts(self, keys: list[str]) -> list[dict[str, int]]:
        raise StoreDown("down")


def test_the_lockout_works_while_the_store_is_down() -> None:
    lockout = Lockout(DownStore(), b"secret")
    for _ in range(LOCK_AFTER):
        lockout.failed("192.0.2.8")
    assert "paused" in lockout.refusal("192.0.2.8")


def test_a_session_expires_after_eight_idle_hours_and_refuses_forgery() -> None:
    clock = FakeClock()
    sessions = Sessions(b"secret", EmbeddedStore(), clock=clock)
    signed = sessions.write(guard.Session.fresh("ann", clock.now))
    clock.now += IDLE_SECONDS - 5
    assert sessions.read(signed).operator == "ann"
    clock.now += 10
    assert sessions.read(signed).operator == ""
    assert Sessions(b"another secret", EmbeddedStore(), clock=clock).read(signed).operator == ""
    assert sessions.read(signed[:-2] + "xx").operator == ""


# ---------------------------------------------------------------- the web console


def test_the_console_is_404_without_accounts(make_app: Callable[..., object]) -> None:
    client = make_app(OPERATORS="", OPERATORS_FILE="").test_client()
    for path in ("/console", "/console/login", "/console/try", "/console/static/console.css"):
        assert client.get(path).status_code == 404


def test_webhooks_carry_nothing_of_the_console(console: object, phone: Phone) -> None:
    assert phone.ring().status == 200
    response = console.test_client().post("/voice/fallback")
    assert "Set-Cookie" not in response.headers and "Content-Security-Policy" not in response.headers
    hooks = console.before_request_funcs
    assert all(fn.__module__ != "ivr.web.console" for fn in hooks.get(None, []))
    assert "console" in hooks


def test_sign_in_gives_a_fresh_strict_http_only_session(console: object) -> None:
    client = console.test_client()
    assert client.get("/console").headers["Location"].endswith("/console/login")
    before = _csrf(client.get("/console/login").text)
    response = _sign_in(client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    page = client.get("/console")
    assert page.status_code == 200 and "The line is" in page.text
    assert _csrf(page.text) != before
    for name, value in (("X-Frame-Options", "DENY"), ("Cache-Control", "no-store")):
        assert page.headers[name] == value
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def test_the_cookie_is_secure_behind_https(make_app: Callable[..., object]) -> None:
    client = make_app(OPERATORS=f"ann:{HASH}", PUBLIC_URL="https://ivr.example.org").test_client()
    assert "Secure" in client.get("/console/login").headers["Set-Cookie"]


def test_every_post_needs_the_csrf_token(console: object) -> None:
    client = console.test_client()
    client.get("/console/login")
    refused = client.post("/console/login", data={"name": "ann", "password": PASSWORD})
    assert refused.status_code == 400
    assert _sign_in(client).status_code == 302
    assert client.post("/console/try", data={"do": "ring"}).status_code == 400
    assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 400


def test_wrong_passwords_are_refused_then_paused(console: object, redis_client: redis.Redis) -> None:
    client = console.test_client()
    assert _sign_in(client, "wrong password").status_code == 401
    for _ in range(LOCK_AFTER):
        _sign_in(client, "wrong password")
    paused = _sign_in(client)
    assert paused.status_code == 429 and "paused" in paused.text


def test_logout_ends_the_session_for_every_copy_of_the_cookie(console: object) -> None:
    client = console.test_client()
    _sign_in(client)
    copied = client.get_cookie("ivr_console", path="/console").value
    client.post("/console/logout", data={"csrf": _csrf(client.get("/console").text)})
    other = console.test_client()
    other.set_cookie("ivr_console", copied, path="/console")
    assert other.get("/console").status_code == 302


def test_usage_equals_ivr_stats_json(console: object, phone: Phone, redis_client: redis.Redis) -> None:
    phone.press(phone.ring(), "1")
    phone.hang_up()
    phone.text("bullied")
    phone.text("CALL")
    client = console.test_client()
    _sign_in(client)
    body = client.get("/console/usage.csv?days=30").text
    rows = list(csv.DictReader(io.StringIO(body)))
    result = CliRunner().invoke(main, ["stats", "--days", "30", "--until", "2026-11-30", "--json",
                                       "--redis-url", REDIS_URL])
    expected = json.loads(result.output)
    assert [row["date"] for row in rows] == [day["date"] for day in expected]
    for row, day in zip(rows, expected, strict=True):
        assert int(row["calls"]) == day["calls"] and int(row["texts"]) == day["texts"]
        assert int(row["calls without a topic"]) == day["calls_without_topic"]
        for outcome, count in day["transfers"].items():
            assert int(row[f"transfers {outcome}"]) == count
        for topic, channels in day["topics"].items():
            for channel, count in channels.items():
                assert int(row[f"{topic} ({channel})"]) == count
    assert rows[-1]["calls"] == "1" and rows[-1]["texts"] == "2" and rows[-1]["stalking (voice)"] == "1"
    page = client.get("/console/usage?days=90").text
    assert page.count("<tr>") == 91
    svg = client.get("/console/usage/topics.svg?days=7")
    assert svg.mimetype == "image/svg+xml" and "<script" not in svg.text and "stalking" in svg.text


def test_trying_the_line_stores_and_counts_nothing(console: object, redis_client: redis.Redis) -> None:
    client = console.test_client()
    _sign_in(client)
    before = sorted(redis_client.scan_iter(match="ivr:*"))
    page = client.get("/console/try").text
    for action in ("ring", "key:1", "key:0", "dial:busy", "silent"):
        form = {name: value for name, value in re.findall(r'name="([a-z_]+)" value="([^"]*)"', page)}
        form["do"] = action
        response = client.post("/console/try", data=_unescape(form))
        assert response.status_code == 200
        page = response.text
    assert "Stalking involves repeated attempts" in page and "The helpline is busy just now." in page
    form = _unescape({name: value for name, value in re.findall(r'name="([a-z_]+)" value="([^"]*)"', page)})
    page = client.post("/console/try", data={**form, "do": "text", "message": "being stalked"}).text
    assert "STALKING" in page
    assert sorted(redis_client.scan_iter(match="ivr:*")) == before


def test_try_it_texts_as_sms_or_whatsapp(console: object) -> None:
    client = console.test_client()
    _sign_in(client)
    page = client.get("/console/try").text
    assert '<option value="whatsapp">WhatsApp</option>' in page
    form = _unescape({name: value for name, value in re.findall(r'name="([a-z_]+)" value="([^"]*)"', page)})
    form.pop("channel", None)
    whatsapp = client.post("/console/try", data={**form, "do": "text", "channel": "whatsapp", "message": "stalked"})
    assert "*STALKING*:" in whatsapp.text and "WhatsApp:" in whatsapp.text and " characters" in whatsapp.text
    assert '<option value="whatsapp" selected>' in whatsapp.text, "the pane stays on the channel chosen"
    sms = client.post("/console/try", data={**form, "do": "text", "channel": "sms", "message": "stalked"})
    assert "STALKING:" in sms.text and "*STALKING*" not in sms.text and "SMS segments" in sms.text


def _unescape(form: dict[str, str]) -> dict[str, str]:
    import html

    return {name: html.unescape(value) for name, value in form.items()}


def test_the_line_shows_problems_with_file_and_line(make_app: Callable[..., object], prompts_copy: Path) -> None:
    topic = prompts_copy / "en-GB" / "topics" / "stalking.yaml"
    topic.write_text(topic.read_text().replace("title: stalking", "title: stalking\nsurprise: yes"))
    client = make_app(OPERATORS=f"ann:{HASH}", PROMPTS_DIR=str(prompts_copy)).test_client()
    _sign_in(client)
    page = client.get("/console/line").text
    assert "Problems in the prompt files" in page
    assert re.search(r"stalking\.yaml:\d+", page)


def add_welsh(prompts: Path, choose: str = "For English, press {key}.") -> None:
    """Add a cy-GB folder: the English menu under a Welsh name, with its own choose line."""
    welsh = prompts / "cy-GB"
    welsh.mkdir()
    (welsh / "menu.yaml").write_text(
        (prompts / "en-GB" / "menu.yaml").read_text()
        .replace("name: English", "name: Cymraeg").replace("keywords: [english]", "keywords: [cymraeg]")
        .replace('sms_choose: "ENGLISH for English"', 'sms_choose: "CYMRAEG am Gymraeg"')
        .replace('choose: "For English, press {key}."', f'choose: "{choose}"')
    )


def test_every_language_folder_is_shown(make_app: Callable[..., object], prompts_copy: Path) -> None:
    add_welsh(prompts_copy)
    client = make_app(OPERATORS=f"ann:{HASH}", PROMPTS_DIR=str(prompts_copy)).test_client()
    _sign_in(client)
    page = client.get("/console/line").text
    assert 'id="lang-en-GB"' in page and 'id="lang-cy-GB"' in page, page[:3000]


def test_operators_file_comes_from_the_environment(make_app: Callable[..., object], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "operators"
    accounts.save(path, "ann", HASH)
    monkeypatch.setenv(accounts.FILE_VARIABLE, str(path))
    monkeypatch.delenv(accounts.LIST_VARIABLE, raising=False)
    client = make_app().test_client()
    assert client.get("/console/login").status_code == 200
    assert os.environ[accounts.FILE_VARIABLE] == str(path)


def test_usage_reads_the_embedded_store_under_make_run(make_app: Callable[..., object]) -> None:
    from ivr.phone import FlaskTransport

    from .conftest import BASE_URL, TOKEN

    app = make_app(OPERATORS=f"ann:{HASH}", REDIS_URL="", STORE=EmbeddedStore())
    texter = Phone(FlaskTransport(app), BASE_URL, TOKEN)
    texter.text("harassed")
    client = app.test_client()
    _sign_in(client)
    rows = list(csv.DictReader(io.StringIO(client.get("/console/usage.csv").text)))
    assert rows[-1]["date"] == "2026-11-30" and rows[-1]["texts"] == "1" and rows[-1]["harassment (sms)"] == "1"


def test_today_says_ready_open_and_what_the_doctor_checks(console: object) -> None:
    client = console.test_client()
    _sign_in(client)
    page = client.get("/console").text
    assert "The line is ready" in page and "The helpline is open now" in page
    assert "open: closes today at 16:00" in page
    assert "Mon 30 Nov" in page and "ivr doctor" in page and "TWILIO_AUTH_TOKEN" in page


def test_an_unreadable_operators_file_hides_the_console_and_says_where(
    make_app: Callable[..., object], tmp_path: Path, ivr_log: Callable[[], str],
) -> None:
    path = tmp_path / "operators"
    path.write_text("ann hunter2\n")
    client = make_app(OPERATORS="", OPERATORS_FILE=str(path)).test_client()
    assert client.get("/console/login").status_code == 404
    assert f"{path}:1: not a 'name:hash' entry" in ivr_log()


def test_the_line_shows_the_opening_the_engine_says_with_the_stats_figures(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    """The picture's opening is what a caller hears (999, the helpline, then the languages), as ivr check times it.

    `{helpline}` is allowed in `language.choose`; the picture once formatted that line by hand and failed on it.
    """
    from ivr import engine, prompt_stats
    from ivr.script import load

    add_welsh(prompts_copy, choose="Am Gymraeg, pwyswch {key}. {helpline_name}.")
    script = load(prompts_copy).script
    assert script is not None
    client = make_app(OPERATORS=f"ann:{HASH}", PROMPTS_DIR=str(prompts_copy)).test_client()
    _sign_in(client)
    response = client.get("/console/line")
    assert response.status_code == 200
    opening = prompt_stats.opening(script, lang="cy-GB")
    heard = [text for text, _ in opening]
    assert heard[1] == "To talk to someone at the National Stalking Helpline, press 0.", "0 before the languages"
    assert engine.start_call(script, prompt_stats.an_open_moment(script)).says[1].text == heard[1]
    import html

    shown = [html.unescape(text) for text in re.findall(r'<p class="said">(.*?)</p>', response.text)]
    at = 0
    for text in heard:  # in the order it is said (a borrowed line may be said twice)
        at = shown.index(text, at) + 1
    assert "Am Gymraeg, pwyswch 2. National Stalking Helpline." in shown
    offered = re.search(r"first offered <strong>([\d.]+) seconds", response.text)
    assert offered is not None and float(offered.group(1)) == round(opening[0][1] + opening[1][1], 1)
