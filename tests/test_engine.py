"""The conversation engine on its own: no Flask, no Redis, a clock passed in."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ivr import engine, gsm
from ivr.channels import CHANNELS, Channel
from ivr.engine import AFTER, CLOSED, DIAL, MENU, TOPIC, Call, Dial, Gather, Hangup, Heard, Thread
from ivr.script import Script, load, say_seconds, words_of

from .conftest import CLOSED as CLOSED_TIME
from .conftest import OPEN
from .test_script import add_french

SOURCE = Path(__file__).with_name("source-advice.md")
STOPWORDS = frozenset("a an and are as at be by for if in is it of on or the to you your".split())
CONTRACTIONS = {"they're": "they are", "it's": "it is", "don't": "do not"}


def said(reply: engine.VoiceReply) -> str:
    return " ".join(say.text for say in reply.says)


# ------------------------------------------------------------ the source advice


def source_items(section: str) -> list[str]:
    """Every bullet and sentence under one heading of the source advice."""
    text = SOURCE.read_text(encoding="utf-8")
    body = re.split(r"^## ", text, flags=re.M)
    block = next(part for part in body if part.startswith(section + "\n"))
    items = []
    for line in block.splitlines()[1:]:
        line = line.strip()
        if line.startswith("- "):
            items.append(line[2:])
        elif line:
            items.extend(re.split(r"(?<=[.;])\s+", line))
    return [item for item in items if item]


def content_words(text: str) -> set[str]:
    text = text.lower().replace("\u2019", "'")
    for short, long in CONTRACTIONS.items():
        text = text.replace(short, long)
    return {stem(word) for word in words_of(text) if word not in STOPWORDS}


def stem(word: str) -> str:
    """Fold inflections ("offers", "offering") so adapted wording still counts."""
    return re.sub(r"(ing|s)$", "", word) if len(word) > 5 else word


def topic_voice(script: Script, name: str) -> str:
    """Walk a topic by keys from the main menu and collect what is said."""
    call = engine.start_call(script, OPEN).call
    key = script.default.topic(name).key
    reply = engine.answer(script, call, Heard(key), OPEN)
    heard = []
    while reply.call.node == TOPIC:
        heard.append(said(reply))
        reply = engine.answer(script, reply.call, Heard("1"), OPEN)
    assert reply.call.node == MENU, "going on past a topic's end returns to the menu"
    return " ".join(heard)


def topic_texts(script: Script, keyword: str) -> str:
    reply = engine.reply_to_text(script, Thread(), keyword, OPEN)
    pages = [reply.text]
    while reply.text and "Reply MORE" in reply.text:
        reply = engine.reply_to_text(script, reply.thread, "MORE", OPEN)
        pages.append(reply.text)
    return " ".join(page for page in pages if page)


@pytest.mark.parametrize("topic", ["stalking", "harassment", "bullying"])
def test_every_definition_and_example_is_read_out(script: Script, topic: str) -> None:
    heard = content_words(topic_voice(script, topic))
    for item in source_items(topic.capitalize()):
        missing = content_words(item) - heard
        assert not missing, f"{topic}: callers never hear {sorted(missing)} from: {item!r}"


@pytest.mark.parametrize("topic", ["stalking", "harassment", "bullying"])
def test_every_definition_and_example_is_texted(script: Script, topic: str) -> None:
    read = content_words(topic_texts(script, topic.upper()))
    for item in source_items(topic.capitalize()):
        missing = content_words(item) - read
        assert not missing, f"{topic}: texters never read {sorted(missing)} from: {item!r}"


def test_the_helpline_section_reaches_callers_and_texters(script: Script) -> None:
    menu = engine.start_call(script, OPEN)
    transfer = engine.answer(script, menu.call, Heard("0"), OPEN)
    text = engine.reply_to_text(script, Thread(), "CALL", OPEN).text or ""
    wanted = content_words("The National Stalking Helpline, offering help, advice and support")
    assert wanted <= content_words(said(transfer))
    assert wanted <= content_words(text)
    assert "oh eight oh eight, eight oh two, oh three oh oh" in said(transfer)
    assert "0808 802 0300" in text


# ------------------------------------------------------------ voice


def test_a_call_starts_with_999_then_names_the_helpline_then_the_menu(script: Script) -> None:
    reply = engine.start_call(script, OPEN)
    assert "nine nine nine" in reply.says[0].text
    assert "National Stalking Helpline" in reply.says[1].text
    assert isinstance(reply.then, Gather)
    assert reply.call == Call(lang="en-GB", node=MENU)
    assert "press 0" in said(reply)


def test_the_words_before_the_helpline_offer_are_few(script: Script) -> None:
    reply = engine.start_call(script, OPEN)
    offer = next(i for i, say in enumerate(reply.says) if "press 0" in say.text)
    words = sum(len(say.text.split()) for say in reply.says[: offer + 1])
    assert words / 160 * 60 < 30, "a frightened caller should hear the helpline offer within 30 s"


MENU_CALL = Call(lang="en-GB", node=MENU)


@pytest.mark.parametrize(
    ("heard", "node", "topic"),
    [
        (Heard("1"), TOPIC, "stalking"),
        (Heard("2"), TOPIC, "harassment"),
        (Heard("3"), TOPIC, "bullying"),
        (Heard("0"), DIAL, ""),
        (Heard("9"), MENU, ""),
        (Heard("*"), MENU, ""),
        (Heard(speech="stalking"), TOPIC, "stalking"),
        (Heard(speech="I think I'm being harassed"), TOPIC, "harassment"),
        (Heard(speech="Bullying."), TOPIC, "bullying"),
        (Heard(speech="he keeps following me"), TOPIC, "stalking"),
        (Heard(speech="they are harassing me"), TOPIC, "harassment"),
        (Heard(speech="helpline"), DIAL, ""),
        (Heard(speech="I want to talk to someone"), DIAL, ""),
    ],
    ids=["1", "2", "3", "0", "9", "star", "say-stalking", "say-harassed", "say-bullying",
         "say-following", "say-harassing", "say-helpline", "say-talk-to-someone"],
)
def test_main_menu_keys_and_words(script: Script, heard: Heard, node: str, topic: str) -> None:
    reply = engine.answer(script, MENU_CALL, heard, OPEN)
    assert (reply.call.node, reply.call.topic) == (node, topic)


@pytest.mark.parametrize("node", [MENU, TOPIC, AFTER, CLOSED])
def test_0_reaches_the_helpline_from_every_menu(script: Script, node: str) -> None:
    call = Call(lang="en-GB", node=node, topic="stalking", part=2)
    reply = engine.answer(script, call, Heard("0"), OPEN)
    assert isinstance(reply.then, Dial)
    assert reply.then.number == "+448088020300"
    assert "oh eight oh eight, eight oh two, oh three oh oh" in said(reply)


def test_a_topic_reads_in_parts_with_a_choice_after_each(script: Script) -> None:
    call = Call(lang="en-GB", node=TOPIC, topic="stalking", part=0)
    first = engine.answer(script, replace(call, node=MENU), Heard("1"), OPEN)
    assert first.says[-1].text.startswith("Press 1 for more")
    again = engine.answer(script, first.call, Heard("*"), OPEN)
    assert said(again) == said(first) and again.call == first.call
    assert first.event == "topic:stalking" and again.event == "repeat", "a repeat is not a new choice"
    on = engine.answer(script, first.call, Heard("1"), OPEN)
    assert on.call.part == 1 and said(on) != said(first)
    back = engine.answer(script, on.call, Heard("9"), OPEN)
    assert back.call == MENU_CALL


def test_the_end_of_a_topic_offers_repeat_menu_and_helpline(script: Script) -> None:
    parts = len(script.default.topic("bullying").voice_parts)
    last = engine.answer(script, Call("en-GB", TOPIC, "bullying", parts - 2), Heard("1"), OPEN)
    assert last.call.part == parts - 1
    assert last.says[-1].text == script.default.voice.topic_end, "after the last part, straight to the end choices"
    assert engine.answer(script, last.call, Heard("1"), OPEN).call.node in (TOPIC, MENU)
    assert engine.answer(script, last.call, Heard("9"), OPEN).call.node == MENU


def walk_topic(script: Script, name: str, now: object) -> list[engine.VoiceReply]:
    """Choose a topic from the menu and press 1 until its last part."""
    topic = script.default.topic(name)
    replies = [engine.answer(script, MENU_CALL, Heard(topic.key), now)]
    while replies[-1].call.part < len(topic.voice_parts) - 1:
        replies.append(engine.answer(script, replies[-1].call, Heard("1"), now))
    return replies


TOPICS = ["stalking", "harassment", "bullying"]
TIMES = pytest.mark.parametrize("now", [OPEN, CLOSED_TIME], ids=["open", "closed"])


@TIMES
@pytest.mark.parametrize("name", TOPICS)
def test_star_at_a_topics_end_replays_it_from_its_first_part(script: Script, name: str, now: object) -> None:
    last = walk_topic(script, name, now)[-1]
    again = engine.answer(script, last.call, Heard("*"), now)
    first_part = script.default.topic(name).voice_parts[0]
    assert again.says[0].text == first_part and again.call.part == 0 and again.event == "repeat"
    middle = engine.answer(script, Call("en-GB", TOPIC, name, 1), Heard("*"), now)
    assert middle.call.part == 1, "elsewhere star repeats the part just heard"


@TIMES
@pytest.mark.parametrize("name", TOPICS)
def test_press_1_to_go_on_is_never_said_when_nothing_follows(script: Script, name: str, now: object) -> None:
    last = walk_topic(script, name, now)[-1]
    assert "Press 1" not in said(last) and "That is all" in said(last)
    missed = engine.answer(script, last.call, Heard("7"), now)
    assert "Press 1" not in said(missed) and "That is all" in said(missed)


@TIMES
@pytest.mark.parametrize("name", TOPICS)
def test_the_choices_after_each_part_take_at_most_6_seconds(script: Script, name: str, now: object) -> None:
    parts = script.default.topic(name).voice_parts
    for reply in walk_topic(script, name, now):
        texts = [say.text for say in reply.says]
        after = texts[texts.index(parts[reply.call.part]) + 1:]
        assert after and sum(say_seconds(text, 160) for text in after) <= 6, after


@pytest.mark.parametrize("name", TOPICS)
def test_closed_is_said_once_per_topic(script: Script, name: str) -> None:
    replies = walk_topic(script, name, CLOSED_TIME)
    replies.append(engine.answer(script, replies[-1].call, Heard("*"), CLOSED_TIME))
    assert sum(said(reply).count("closed") for reply in replies) == 1
    assert "closed" in said(replies[0]), "as the topic starts"
    assert all("closed" not in said(reply) for reply in walk_topic(script, name, OPEN))


@pytest.mark.parametrize(("heard", "topic"), [
    (Heard("1"), "stalking"), (Heard("2"), "harassment"), (Heard("3"), "bullying"),
    (Heard(speech="harassment"), "harassment"), (Heard(speech="I am being bullied"), "bullying"),
])
def test_after_the_closed_notice_the_menu_keys_and_words_still_work(
    script: Script, heard: Heard, topic: str
) -> None:
    closed = engine.answer(script, MENU_CALL, Heard("0"), CLOSED_TIME)
    assert closed.call.node == CLOSED
    chosen = engine.answer(script, closed.call, heard, CLOSED_TIME)
    assert chosen.call.node == TOPIC and chosen.call.topic == topic and chosen.event == f"topic:{topic}"


def test_the_closed_message_says_what_the_helpline_offers(script: Script) -> None:
    closed = engine.answer(script, MENU_CALL, Heard("0"), CLOSED_TIME)
    assert "offers help, advice and support" in said(closed)
    assert "offers help, advice and support" in said(engine.helpline_at_once(script, CLOSED_TIME))


def test_the_welcome_names_the_topics_from_the_topic_files(prompts_copy: Path) -> None:
    assert "{topics}" in (prompts_copy / "en-GB/menu.yaml").read_text(encoding="utf-8")
    (prompts_copy / "en-GB/topics/online.yaml").write_text(
        "title: online abuse\nkeywords: [online]\nparts:\n  - Online abuse is abuse on the internet.\n",
        encoding="utf-8",
    )
    script = load(prompts_copy).script
    assert script is not None
    welcome = engine.start_call(script, OPEN).says[1].text
    assert welcome.startswith("This line explains stalking, harassment, bullying and online abuse.")


@TIMES
def test_with_several_languages_999_comes_first_then_the_helpline_then_the_choice(
    prompts_copy: Path, now: object
) -> None:
    add_french(prompts_copy)
    script = load(prompts_copy).script
    assert script is not None
    start = engine.start_call(script, now)
    texts = [say.text for say in start.says]
    assert "nine nine nine" in texts[0]
    assert "press 0" in texts[1].lower() or "Press 0" in texts[1]
    assert texts[2:] == ["For English, press 1.", "Pour le francais, appuyez sur 2."]
    helpline = engine.answer(script, start.call, Heard("0"), now)
    assert isinstance(helpline.then, Dial) if now is OPEN else helpline.call.node == CLOSED


def test_silence_and_unknown_keys_reprompt_then_say_goodbye_with_the_number(script: Script) -> None:
    reply = engine.answer(script, MENU_CALL, Heard(), OPEN)
    assert said(reply).startswith("Sorry, I didn't get that.") and reply.call.misses == 1
    reply = engine.answer(script, reply.call, Heard("7"), OPEN)
    assert reply.call.misses == 2 and isinstance(reply.then, Gather)
    reply = engine.answer(script, reply.call, Heard(speech="blah"), OPEN)
    assert isinstance(reply.then, Hangup)
    assert "oh eight oh eight" in said(reply) and "Goodbye" in said(reply)


def test_a_good_answer_forgets_earlier_misses(script: Script) -> None:
    reply = engine.answer(script, replace(MENU_CALL, misses=2), Heard("1"), OPEN)
    assert reply.call.misses == 0


def test_a_topic_reprompt_repeats_only_the_choices(script: Script) -> None:
    call = Call("en-GB", TOPIC, "stalking", 0)
    reply = engine.answer(script, call, Heard("5"), OPEN)
    assert [say.text for say in reply.says][1:] == [script.default.voice.part_choices]


@pytest.mark.parametrize(
    ("status", "words", "then"),
    [
        ("completed", "Thank you for calling", Hangup),
        ("answered", "Thank you for calling", Hangup),
        ("busy", "busy", Gather),
        ("no-answer", "did not answer", Gather),
        ("failed", "did not go through", Gather),
        ("canceled", "ended before it was answered", Gather),
        ("garbage", "did not go through", Gather),
    ],
    ids=["completed", "answered", "busy", "no-answer", "failed", "canceled", "unknown"],
)
def test_dial_outcomes(script: Script, status: str, words: str, then: type) -> None:
    reply = engine.dial_result(script, Call("en-GB", DIAL), status, OPEN)
    assert words in said(reply) and isinstance(reply.then, then)
    if then is Gather:
        assert "oh eight oh eight" in said(reply), "the caller hears the number again"
        assert engine.answer(script, reply.call, Heard("0"), OPEN).then.__class__ is Dial
        assert engine.answer(script, reply.call, Heard("9"), OPEN).call.node == MENU


def test_no_answer_near_closing_says_the_line_may_have_closed(script: Script) -> None:
    near = OPEN.replace(hour=15, minute=55)
    reply = engine.dial_result(script, Call("en-GB", DIAL), "no-answer", near)
    assert "may have just closed" in said(reply)


def test_closed_helpline_is_not_rung(script: Script) -> None:
    reply = engine.answer(script, MENU_CALL, Heard("0"), CLOSED_TIME)
    assert isinstance(reply.then, Gather) and reply.call.node == CLOSED
    assert "closed now" in said(reply) and "tomorrow at half past nine" in said(reply)
    assert "nine nine nine" in said(reply)
    assert engine.answer(script, reply.call, Heard("9"), CLOSED_TIME).call.node == MENU


def test_menus_say_the_helpline_is_closed_instead_of_offering_it(script: Script) -> None:
    reply = engine.start_call(script, CLOSED_TIME)
    assert "The helpline is closed now" in said(reply)
    assert "To talk to someone" not in said(reply)


@pytest.mark.parametrize(
    "text", ["", "garbage", "en-GB.nowhere.x.0.0", "x" * 500, "en-GB.topic.gone.3.0", "..9.99.99"],
)
def test_an_unreadable_or_stale_place_is_the_main_menu(script: Script, text: str) -> None:
    reply = engine.answer(script, Call.decode(text), Heard("9"), OPEN)
    assert reply.call.node == MENU


def test_a_place_survives_the_url(script: Script) -> None:
    call = Call("en-GB", TOPIC, "harassment", 3, 2)
    assert Call.decode(call.encode()) == call
    reached = Call("en-GB", MENU, reached=True)
    assert reached.encode() == "v2.en-GB.menu..0.0.1" and Call.decode(reached.encode()) == reached


@pytest.mark.parametrize(("text", "expected"), [
    ("en-GB.topic.stalking.1.0", Call("en-GB", TOPIC, "stalking", 1, 0)),  # before v2: a call in progress at a deploy
    ("v2.en-GB.topic.stalking.1.0.1", Call("en-GB", TOPIC, "stalking", 1, 0, reached=True)),
    ("v3.en-GB.topic.stalking.1.0.1", Call()),  # a format this code does not know: the main menu
    ("v2.en-GB.topic.stalking.1.0.2", Call()),
    ("v2.en-GB.topic.stalking.1.0", Call()),
], ids=["v1", "v2", "unknown-version", "bad-flag", "v2-short"])
def test_a_place_written_by_this_or_the_last_version_is_read(text: str, expected: Call) -> None:
    assert Call.decode(text) == expected


def test_every_key_in_every_place_gives_a_valid_reply(script: Script) -> None:
    """Walk the whole menu graph: no key anywhere raises or goes silent."""
    places = [Call("en-GB", node) for node in (MENU, AFTER, CLOSED, DIAL)]
    for topic in script.default.topics:
        places += [Call("en-GB", TOPIC, topic.name, part) for part in range(len(topic.voice_parts) + 1)]
    for call in places:
        for key in [*"0123456789*#", "", "12"]:
            for now in (OPEN, CLOSED_TIME):
                reply = engine.answer(script, call, Heard(key), now)
                assert reply.says and all(say.text.strip() for say in reply.says)
                assert isinstance(reply.then, (Gather, Dial, Hangup))


# ------------------------------------------------------------ SMS


# Every table of what texters send runs on every text channel (SMS and WhatsApp): the words are the same.
on_every_channel = pytest.mark.parametrize("channel", CHANNELS, ids=[channel.name for channel in CHANNELS])

TEXT_KEYWORDS = [
        ("STALKING", "topic:stalking"),
        ("stalked", "topic:stalking"),
        ("stalker", "topic:stalking"),
        (" Stalking! ", "topic:stalking"),
        ("I am being stalked", "topic:stalking"),
        ("stalkng", "topic:stalking"),
        ("harrassment", "topic:harassment"),
        ("harasment", "topic:harassment"),
        ("HARASSED", "topic:harassment"),
        ("bulling", "topic:bullying"),
        ("bully", "topic:bullying"),
        ("bullied", "topic:bullying"),
        ("1", "topic:stalking"),
        ("2", "topic:harassment"),
        ("3", "topic:bullying"),
        ("CALL", "helpline"),
        ("helpline", "helpline"),
        ("Help", "helpline"),
        ("MENU", "menu"),
        ("hello", "menu"),
        ("", "menu"),
        ("   ", "menu"),
        ("😀", "menu"),
        ("<script>alert(1)</script>", "menu"),
        ("4", "menu"),
        ("STOP", "opt-out"),
        ("stop", "opt-out"),
        (" Stop. ", "opt-out"),
        ("STOPALL", "opt-out"),
        ("UNSUBSCRIBE", "opt-out"),
        ("CANCEL", "opt-out"),
        ("END", "opt-out"),
        ("QUIT", "opt-out"),
        ("START", "menu"),
        ("UNSTOP", "menu"),
        ("FORGET", "forget"),
        ("HIDE", "hide"),
        (" delete ", "hide"),
        ("Delete this", "hide"),
]
NEAR_OPT_OUTS = ["stopp", "sotp", "stpo", "quitt", "cancle", "unsubscrib"]
FUZZY_CASES = [("stalkin", True), ("stlaking", True), ("harrasment", True), ("bullyng", True),
               ("stable", False), ("bulb", False), ("hair", False), ("salt", False)]


@on_every_channel
@pytest.mark.parametrize(("body", "event"), TEXT_KEYWORDS)
def test_keywords(script: Script, body: str, event: str, channel: Channel) -> None:
    assert engine.reply_to_text(script, Thread(), body, OPEN, channel).event == event


@on_every_channel
@pytest.mark.parametrize("body", NEAR_OPT_OUTS)
def test_opt_out_words_are_never_fuzzy_matched(script: Script, body: str, channel: Channel) -> None:
    """A near-miss of STOP is not an opt-out, and is not mistaken for a topic either."""
    assert engine.reply_to_text(script, Thread(), body, OPEN, channel).event == "menu"


@on_every_channel
@pytest.mark.parametrize(("word", "matches"), FUZZY_CASES)
def test_the_fuzzy_threshold(script: Script, word: str, matches: bool, channel: Channel) -> None:
    event = engine.reply_to_text(script, Thread(), word, OPEN, channel).event
    assert event.startswith("topic:") is matches, f"threshold {engine.FUZZY_THRESHOLD}: {word} -> {event}"


def test_opt_out_ends_the_session_with_no_reply(script: Script) -> None:
    reply = engine.reply_to_text(script, Thread("en-GB", "stalking", 1), "STOP", OPEN)
    assert reply.text is None and reply.thread is None


def test_the_menu_lists_keywords_number_and_999_in_two_segments(script: Script) -> None:
    text = engine.reply_to_text(script, Thread(), "hi", OPEN).text or ""
    for word in ("STALKING", "HARASSMENT", "BULLYING", "CALL", "0808 802 0300", "999"):
        assert word in text
    assert gsm.cost(text).segments <= 2 and gsm.is_gsm(text)


def test_more_pages_through_a_topic_then_the_menu(script: Script) -> None:
    pages = script.default.topic("stalking").sms_pages
    reply = engine.reply_to_text(script, Thread(), "stalking", OPEN)
    for page in pages:
        assert reply.text == page
        reply = engine.reply_to_text(script, reply.thread, "more", OPEN)
    assert reply.event == "menu"
    assert all(page.endswith("Reply MORE") for page in pages[:-1]), "each page ends 'Reply MORE' while more remains"
    assert "Reply MORE" not in pages[-1]


def test_more_with_nothing_to_continue_gives_the_menu(script: Script) -> None:
    assert engine.reply_to_text(script, Thread(), "MORE", OPEN).event == "menu"


def test_call_gives_number_and_hours_and_next_opening_when_closed(script: Script) -> None:
    open_text = engine.reply_to_text(script, Thread(), "CALL", OPEN).text or ""
    closed_text = engine.reply_to_text(script, Thread(), "CALL", CLOSED_TIME).text or ""
    assert "0808 802 0300" in open_text and "Mon Tue Thu Fri 09:30-16:00" in open_text
    assert "Wed 13:00-16:00" in open_text
    assert "opens Monday 30 November at 09:30" in closed_text


def test_no_reply_repeats_what_the_texter_wrote(script: Script) -> None:
    secret = "my ex Dave keeps following me"
    reply = engine.reply_to_text(script, Thread(), secret, OPEN)
    assert "Dave" not in (reply.text or "")


def test_every_reply_the_prompts_can_produce_is_gsm7_within_limits(script: Script) -> None:
    limit = script.service.sms.max_segments
    language = script.default
    texts = [language.sms_menu, engine.limited_text(script, Thread()), language.sms.forget]
    texts += [page for topic in language.topics for page in topic.sms_pages]
    for now in (OPEN, CLOSED_TIME):
        texts += [engine.reply_to_text(script, Thread(), body, now).text or "" for body in ("CALL", "0", "999")]
    for text in texts:
        assert gsm.is_gsm(text), gsm.non_gsm(text)
        assert 0 < gsm.cost(text).segments <= limit, text


@pytest.mark.parametrize("body", ["999", "emergency", "Danger", "0"])
def test_0_gives_the_helpline_and_danger_gets_the_999_line_first(script: Script, body: str) -> None:
    thread = Thread(lang="en-GB", topic="stalking", page=1)
    for now in (OPEN, CLOSED_TIME):
        reply = engine.reply_to_text(script, thread, body, now)
        helpline = engine.reply_to_text(script, thread, "CALL", now).text or ""
        text = reply.text or ""
        assert reply.thread == thread, "the texter keeps their place"
        if body == "0":
            assert text == helpline
            continue
        assert text.startswith("In danger now? Call 999.\n") and text.count("Call 999") == 1, text
        assert "0808 802 0300" in text and helpline.split(". Open")[0] in text


def test_a_stored_thread_that_is_garbage_starts_fresh() -> None:
    assert Thread.from_dict({"lang": 3, "topic": None}) == Thread()
    assert Thread.from_dict("nonsense") == Thread()
    assert Thread.from_dict({"lang": "en-GB", "topic": "x", "page": 10**9}).page == 99


def test_a_helpline_with_no_opening_in_sight_says_it_opens_later(never_open: Path) -> None:
    """A long closure (or no hours) must never leave a gap: "It opens ." is not a sentence."""
    from ivr.script import load

    script = load(never_open).script
    assert script is not None
    closed = engine.answer(script, Call(lang="en-GB"), Heard(digits="0"), OPEN)
    said = " ".join(say.text for say in closed.says)
    assert "closed now, and opens later." in said and " ." not in said
    text = engine.reply_to_text(script, Thread(), "call", OPEN).text or ""
    assert "opens later" in text and " ." not in text and ", ." not in text
