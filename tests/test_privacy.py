"""Privacy: no caller's number, words or speech in Redis or in the logs; FORGET and the rate limit.

These tests run on a private redis-server (see tests/redis_server.py), so "every
key in the database" means every key this line wrote and nothing else, and no
other test's clean-up can delete keys from under them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
import redis

from ivr import gsm
from ivr.phone import FlaskTransport, Phone
from ivr.script import Script
from ivr.store import PREFIX, key_for

from .conftest import BASE_URL, TOKEN
from .redis_server import RedisServer, redis_server

SECRET = b"test-secret"  # SESSION_SECRET in conftest's make_app
HELPLINE = "+448088020300"
NUMBER = "+447700900987"
SPEECH = "my neighbour Bartholomew"
MESSAGE = "Quentinella from flat 12 keeps watching me"
REQUESTS_IN_WALK = 11


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def db(private_redis: RedisServer) -> Iterator[redis.Redis]:
    client = private_redis.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def line(make_app: Callable[..., object], private_redis: RedisServer, db: redis.Redis) -> object:
    return make_app(REDIS_URL=private_redis.url)


def walk(app: object, script: Script) -> Phone:
    """A whole call (with words said) and a text conversation from one number."""
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER)
    menu = phone.ring()
    sorry = phone.say(menu, SPEECH)
    assert sorry.status == 200 and sorry.says[0] == script.default.voice.didnt_get
    topic = phone.press(sorry, "1")
    part = phone.press(topic, "1")
    assert script.default.topic("stalking").voice_parts[1] in part.says
    dial = phone.press(part, "0")
    assert dial.dials == HELPLINE
    done = phone.transfer_ends(dial, "completed")
    assert done.status == 200 and done.hung_up
    assert phone.hang_up() == 204
    replies = [phone.text(body) for body in (MESSAGE, "STALKING", "MORE", "CALL")]
    assert all(reply.status == 200 and reply.message for reply in replies)
    assert replies[2].message == script.default.topic("stalking").sms_pages[1]
    return phone


def forbidden(phone: Phone) -> list[str]:
    """What must never be kept or logged: the number in any form, the words, the speech."""
    national = "0" + NUMBER.removeprefix("+44")
    return [
        NUMBER, NUMBER[1:], national, NUMBER.replace("+", "%2B"), "+44 7700 900987", "07700 900987",
        MESSAGE.lower(), "quentinella", SPEECH.lower(), "bartholomew", phone.call_sid.lower(),
    ]


def leaks(text: str, phone: Phone) -> list[str]:
    """Return what in text gives the caller away."""
    lowered = text.lower()
    found = [item for item in forbidden(phone) if item.lower() in lowered]
    digits = re.sub(r"[\s+\-().]", "", lowered)
    if NUMBER.removeprefix("+44") in digits:
        found.append("the number's digits")
    return found


def everything_in(db: redis.Redis) -> list[tuple[bytes, list[bytes], int]]:
    """Every key in the database, with all it holds and its TTL."""
    found = []
    for key in db.scan_iter("*"):
        kind = db.type(key)
        if kind == b"string":
            values = [db.get(key) or b""]
        elif kind == b"hash":
            values = [part for pair in db.hgetall(key).items() for part in pair]
        elif kind == b"list":
            values = db.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(db.smembers(key))
        elif kind == b"zset":
            values = [member for member, _ in db.zrange(key, 0, -1, withscores=True)]
        else:
            values = [db.dump(key) or b""]
        found.append((key, values, db.ttl(key)))
    return found


def test_redis_keeps_no_number_words_or_speech_and_everything_expires(
    line: object, db: redis.Redis, script: Script
) -> None:
    phone = walk(line, script)
    contents = everything_in(db)
    keys = {key.decode() for key, _, _ in contents}
    assert key_for(SECRET, "text", NUMBER) in keys and key_for(SECRET, "rate:text", NUMBER) in keys
    assert not db.exists(key_for(SECRET, "call", phone.call_sid)), "a call keeps no session"
    for key, values, ttl in contents:
        assert key.decode().startswith(PREFIX)
        for blob in (key, *values):
            assert leaks(blob.decode("utf-8", "replace"), phone) == [], (key, blob)
        assert ttl > 0, f"{key!r} has no expiry (TTL {ttl})"


def test_the_logs_hold_no_number_words_or_speech_and_one_json_line_per_request(
    line: object, script: Script, ivr_log: Callable[[], str]
) -> None:
    phone = walk(line, script)
    output = ivr_log()
    assert leaks(output, phone) == [], output
    records = [json.loads(text) for text in output.splitlines() if text.strip()]
    requests = [record for record in records if record["msg"] == "request"]
    assert len(requests) == REQUESTS_IN_WALK
    for record in requests:
        assert re.fullmatch(r"[0-9a-f]{12}", record["request_id"])
        assert record["path"] in ("/voice", "/voice/answer", "/voice/dialled", "/voice/status", "/sms")
        assert record["endpoint"] in ("voice.new_call", "voice.answer", "voice.dialled", "voice.status", "sms.incoming")
        assert record["status"] in (200, 204)
        assert isinstance(record["ms"], int | float) and record["ms"] >= 0
    assert len({record["request_id"] for record in requests}) == REQUESTS_IN_WALK


def test_forget_deletes_the_texters_session_but_not_the_reply_limit(
    line: object, db: redis.Redis, script: Script
) -> None:
    phone = Phone(FlaskTransport(line), BASE_URL, TOKEN, caller="+447700900988")
    other = Phone(FlaskTransport(line), BASE_URL, TOKEN, caller="+447700900989")
    assert phone.text("STALKING").message == script.default.topic("stalking").sms_pages[0]
    assert other.text("STALKING").message == script.default.topic("stalking").sms_pages[0]
    session, counter = key_for(SECRET, "text", phone.caller), key_for(SECRET, "rate:text", phone.caller)
    before = {key.decode() for key in db.keys("*")}
    assert {session, counter} <= before

    reply = phone.text("FORGET")
    after = {key.decode() for key in db.keys("*")}
    assert after == before - {session}, "this number's place goes, and nobody else's"
    assert int(db.get(counter) or 0) == 2, "the anonymous reply counter stays until it expires"
    assert 0 < db.ttl(counter) <= 600
    assert reply.message == script.default.sms.forget
    assert gsm.cost(reply.message).segments == 1
    assert phone.text("MORE").message == script.default.sms_menu, "the thread starts afresh"


def test_forget_never_buys_more_replies(line: object, script: Script) -> None:
    phone = Phone(FlaskTransport(line), BASE_URL, TOKEN, caller="+447700900987")
    limit = script.service.sms.rate_limit_messages
    replies = [phone.text("FORGET" if index % 5 == 4 else "MENU").message for index in range(limit + 5)]
    assert all(replies[:limit]) and "paused" in (replies[limit] or "")
    assert replies[limit + 1:] == [None] * 4, "past the limit, FORGET gets no reply and resets nothing"


def test_the_rate_limit_gives_one_notice_then_silence(line: object, db: redis.Redis, script: Script) -> None:
    phone = Phone(FlaskTransport(line), BASE_URL, TOKEN, caller="+447700900990")
    limit = script.service.sms.rate_limit_messages
    assert limit == 20
    for _ in range(limit):
        assert phone.text("MENU").message == script.default.sms_menu
    notice = phone.text("STALKING")
    assert notice.status == 200
    assert notice.message == script.fill(script.default.sms.rate_limited, "sms")
    assert gsm.cost(notice.message).segments == 1
    quiet = phone.text("STALKING")
    assert quiet.status == 200 and quiet.message is None, "past the notice, no <Message> at all"

    other = Phone(FlaskTransport(line), BASE_URL, TOKEN, caller="+447700900991")
    assert other.text("MENU").message == script.default.sms_menu, "another number is not limited"
    counter = key_for(SECRET, "rate:text", phone.caller)
    assert int(db.get(counter) or 0) == limit + 2
    assert 0 < db.ttl(counter) <= script.service.sms.rate_limit_minutes * 60 <= 600


def test_no_per_call_key_exists_in_redis_during_or_after_a_call(
    make_app: Callable[..., object], private_redis: RedisServer, db: redis.Redis
) -> None:
    """A call's place travels in its signed URL: Redis holds only day counts, seen deliveries and caller limits."""
    app = make_app(REDIS_URL=private_redis.url)
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER)
    turn = phone.say(phone.ring(), SPEECH)
    during = {key.decode() for key in db.keys("*")}
    turn = phone.press(turn, "0")
    phone.transfer_ends(turn, "busy")
    phone.hang_up()
    after = {key.decode() for key in db.keys("*")}
    for key in during | after:
        kind = key.removeprefix(PREFIX).split(":", 1)[0]
        assert kind in ("stats", "seen", "rate"), f"{key} is not a day's counts, a seen delivery or a limit"
        assert phone.call_sid not in key and key != key_for(SECRET, "call", phone.call_sid)
        if kind == "rate":
            assert key == key_for(SECRET, "rate:call", NUMBER), "the one per-caller key: the limit, by HMAC"
            members = {member.decode() for member in db.smembers(key)}
            assert members == {key_for(SECRET, "call", phone.call_sid)}, "the call is in it only as an HMAC"
        assert 0 < db.ttl(key)


def test_a_redis_dump_cannot_confirm_which_delivery_it_saw(
    make_app: Callable[..., object], private_redis: RedisServer, db: redis.Redis
) -> None:
    """A seen delivery's key is keyed with the session secret: neither Twilio's token nor a plain hash of it."""
    import hashlib

    seen = []
    for secret in ("test-secret", "another-secret"):
        app = make_app(REDIS_URL=private_redis.url, SESSION_SECRET=secret)
        phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER)
        phone.call_sid = "CA" + "9" * 32
        phone.post("/voice", {"CallSid": phone.call_sid, "From": NUMBER}, token="token-1")
        (key,) = db.keys(f"{PREFIX}seen:*")
        seen.append(key.decode())
        assert "token-1" not in seen[-1]
        for digest in (hashlib.sha256(b"token-1").hexdigest(), hashlib.blake2b(b"token-1").hexdigest()):
            assert digest[:32] not in seen[-1], "an unkeyed hash of the token"
        db.flushall()
    assert seen[0] != seen[1], "the key depends on the secret"
