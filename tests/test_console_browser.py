"""The operators' console in a real browser: headless Chromium, the Procfile's server, real Redis.

Screenshots of every page at phone and desktop width go to $IVR_SCREENSHOTS (default:
a folder in the system's temporary directory, printed at the end of the module).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests

from ivr.console.accounts import hash_password
from ivr.console.guard import LOCK_AFTER
from ivr.phone import HttpTransport, Phone
from ivr.script import Script, say_seconds

from .conftest import REDIS_URL, TOKEN
from .server import procfile_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER) and not os.environ.get("CI"):
    pytest.skip("Chromium and chromedriver are not installed: apt-get install chromium chromium-driver "
                "(.ci/run does this in CI)", allow_module_level=True)

IVR = str(Path(sys.executable).parent / "ivr")
NAME, PASSWORD = "ann", "correct horse battery staple"
PHONE_SIZE, DESKTOP_SIZE = (390, 844), (1280, 900)
OPEN_AT, CLOSED_AT, BANK_HOLIDAY_AT = "2026-11-30T10:00", "2026-11-29T20:00", "2026-12-25T10:00"
SCREENSHOTS = Path(os.environ.get("IVR_SCREENSHOTS") or Path(tempfile.gettempdir()) / "ivr-console-screenshots")


@pytest.fixture(scope="module")
def operators(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console") / "operators"
    path.write_text(f"{NAME}:{hash_password(PASSWORD)}\n")
    return path


@pytest.fixture(scope="module")
def base(operators: Path) -> Iterator[str]:
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": "console",
           "IVR_OPERATORS_FILE": str(operators)}
    with procfile_server(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={DESKTOP_SIZE[0]},{DESKTOP_SIZE[1]}", "--lang=en-GB"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER or "/usr/bin/chromedriver"), options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    print(f"\nconsole screenshots: {SCREENSHOTS}")


@pytest.fixture
def clean_console(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Forget failed logins and counts before and after a test."""
    _forget(redis_client)
    yield redis_client
    _forget(redis_client)


def _forget(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match="ivr:*"))
    if keys:
        client.delete(*keys)


def _errors(driver: object) -> list[dict[str, object]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _open(driver: object, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _login(driver: object, base: str, password: str = PASSWORD) -> None:
    _open(driver, base + "/console/login")
    driver.find_element(By.ID, "name").send_keys(NAME)
    driver.find_element(By.ID, "password").send_keys(password)
    _press(driver, "sign-in")


def _logged_in(driver: object, base: str) -> None:
    _open(driver, base + "/console")
    if "/console/login" in driver.current_url:
        _login(driver, base)
    assert driver.find_elements(By.ID, "logout"), driver.page_source[:2000]


def _shoot(driver: object, name: str) -> None:
    """Save the whole page at phone and at desktop width."""
    for label, (width, height) in (("phone", PHONE_SIZE), ("desktop", DESKTOP_SIZE)):
        driver.set_window_size(width, height)
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(full + 140, height), 6000))
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.set_window_size(*DESKTOP_SIZE)


def test_the_console_is_404_without_accounts(base: str, browser: object, operators: Path) -> None:
    saved = operators.read_text()
    operators.unlink()
    try:
        assert requests.get(base + "/console/login", timeout=5).status_code == 404
        _open(browser, base + "/console")
        assert "Not Found" in browser.page_source
        assert not browser.find_elements(By.ID, "name")
    finally:
        operators.write_text(saved)
    browser.get_log("browser")  # the 404 itself is logged by the browser; it is what this test wants


def test_wrong_passwords_are_refused_then_locked_out(base: str, browser: object, clean_console: redis.Redis) -> None:
    browser.delete_all_cookies()
    _login(browser, base, "not the password")
    assert "do not match" in browser.find_element(By.ID, "login-message").text
    assert not browser.find_elements(By.ID, "logout")
    for _ in range(LOCK_AFTER):
        _login(browser, base, "still not the password")
    message = browser.find_element(By.ID, "login-message").text
    assert "paused" in message
    _login(browser, base)  # the right password, from a locked-out address, is refused too
    assert not browser.find_elements(By.ID, "logout")
    assert "paused" in browser.find_element(By.ID, "login-message").text
    _shoot(browser, "login-locked")
    browser.get_log("browser")  # refusals answer 401/429, which the browser logs


def test_login_and_logout(base: str, browser: object, clean_console: redis.Redis) -> None:
    browser.delete_all_cookies()
    browser.get_log("browser")
    _open(browser, base + "/console/usage")
    assert "/console/login" in browser.current_url
    _shoot(browser, "login")
    _login(browser, base)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Today"
    cookie = browser.get_cookie("ivr_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    _press(browser, "logout")
    assert "/console/login" in browser.current_url
    _open(browser, base + "/console/line")
    assert "/console/login" in browser.current_url
    assert _errors(browser) == []


@pytest.mark.parametrize("path", ["", "/usage", "/usage?days=30", "/usage?days=90", "/line", "/try"])
def test_each_page_renders_without_browser_errors(base: str, browser: object, path: str) -> None:
    _logged_in(browser, base)
    browser.get_log("browser")
    _open(browser, base + "/console" + path)
    assert browser.find_element(By.TAG_NAME, "h1").text
    for image in browser.find_elements(By.TAG_NAME, "img"):
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
    assert _errors(browser) == []
    headers = requests.get(base + "/console" + path, timeout=5, allow_redirects=False).headers
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_today_shows_ready_and_the_week(base: str, browser: object) -> None:
    _logged_in(browser, base)
    _open(browser, base + "/console")
    assert browser.find_element(By.ID, "ready-heading").text == "The line is ready"
    week = subprocess.run([IVR, "hours", "--week"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    rows = [" ".join(row.text.split()) for row in browser.find_elements(By.CSS_SELECTOR, ".week tr")]
    assert rows == [" ".join(line.split()) for line in week]
    _shoot(browser, "today")


def _stats(days: int) -> list[dict[str, object]]:
    result = subprocess.run([IVR, "stats", "--days", str(days), "--json", "--redis-url", REDIS_URL],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.1)


def test_usage_shows_exactly_the_counts_of_known_calls_and_texts(
    base: str, browser: object, clean_console: redis.Redis,
) -> None:
    for keys in ("1", "2"):
        phone = Phone(HttpTransport(), base, TOKEN)
        phone.press(phone.ring(), keys)
        phone.hang_up()
    texter = Phone(HttpTransport(), base, TOKEN)
    texter.text("stalked")
    texter.text("HELLO")
    _wait_for(lambda: _stats(1)[-1]["calls"] == 2 and _stats(1)[-1]["texts"] == 2, "the counts being written")
    expected = _stats(7)
    _logged_in(browser, base)
    _open(browser, base + "/console/usage?days=7")
    assert browser.find_element(By.ID, "total-calls").text == "2"
    assert browser.find_element(By.ID, "total-texts").text == "2"
    rows = browser.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr")
    head = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#usage-table thead th")]
    assert len(rows) == 7
    for row, day in zip(rows, expected, strict=True):
        cells = dict(zip(head, [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")], strict=True))
        assert cells["date"] == day["date"]
        assert int(cells["calls"]) == day["calls"] and int(cells["texts"]) == day["texts"]
        for topic, channels in day["topics"].items():
            for channel, count in channels.items():
                assert int(cells[f"{topic} ({channel})"]) == count
    today = dict(zip(head, [cell.text for cell in rows[-1].find_elements(By.CSS_SELECTOR, "th, td")], strict=True))
    assert today["stalking (voice)"] == "1" and today["harassment (voice)"] == "1"
    assert today["stalking (sms)"] == "1"
    chart = browser.find_element(By.ID, "chart-daily").get_attribute("src")
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    svg = requests.get(chart, cookies=cookies, timeout=5).text
    assert '<desc class="value">2</desc>' in svg  # two calls and two texts today, drawn as bars
    topics = requests.get(chart.replace("daily", "topics"), cookies=cookies, timeout=5).text
    assert "stalking" in topics and "harassment" in topics
    _shoot(browser, "usage")


def test_the_line_lists_every_topic_and_part_with_seconds(base: str, browser: object, script: Script) -> None:
    _logged_in(browser, base)
    _open(browser, base + "/console/line")
    wpm = script.service.voice.words_per_minute
    for language in script.languages.values():
        section = browser.find_element(By.ID, f"lang-{language.code}")
        for topic in language.topics:
            parts = section.find_elements(By.CSS_SELECTOR, f"#topic-{language.code}-{topic.name} li.part")
            assert len(parts) == len(topic.voice_parts), topic.name
            for shown, part in zip(parts, topic.voice_parts, strict=True):
                assert shown.find_element(By.CSS_SELECTOR, ".said").text == " ".join(script.fill(part, "voice").split())
                seconds = shown.find_element(By.CSS_SELECTOR, ".prompt").get_attribute("data-seconds")
                assert seconds == f"{say_seconds(part, wpm):.1f}"
                assert ".yaml:" in shown.find_element(By.CSS_SELECTOR, ".where").text
    assert "first offered" in browser.find_element(By.CSS_SELECTOR, ".offer").text
    _shoot(browser, "line")


def _try(driver: object, base: str, at: str) -> None:
    _logged_in(driver, base)
    _open(driver, base + "/console/try")
    field = driver.find_element(By.ID, "at")
    driver.execute_script("arguments[0].value = arguments[1]", field, at)
    _press(driver, "use-time")


def _gone(element: object) -> Callable[[object], bool]:
    """Wait for a page's element to be replaced by the next page (Chromium words this two ways)."""

    def check(_: object) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:  # stale, or "does not belong to the document"
            return True
        return False

    return check


def _press(driver: object, element_id: str) -> None:
    """Click a button that submits a form, and wait for the page it brings."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 10).until(_gone(page))
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _transcript(driver: object, which: str) -> str:
    return driver.find_element(By.ID, which).text


def test_try_a_call_when_open_and_closed(
    base: str, browser: object, script: Script, clean_console: redis.Redis,
) -> None:
    before = _line_counters(base)
    _try(browser, base, OPEN_AT)
    browser.get_log("browser")
    _press(browser, "ring")
    _press(browser, "key-1")
    first = script.default.topics[0]
    assert " ".join(script.fill(first.voice_parts[0], "voice").split()) in _transcript(browser, "call-transcript")
    _press(browser, "key-0")
    assert "Connecting you now" in _transcript(browser, "call-transcript")
    _press(browser, "dial-busy")
    assert "The helpline is busy just now." in _transcript(browser, "call-transcript")
    _shoot(browser, "try")
    _try(browser, base, CLOSED_AT)
    _press(browser, "ring")
    _press(browser, "key-0")
    said = _transcript(browser, "call-transcript")
    assert "is closed now, and opens" in said and "Connecting you now" not in said
    assert not browser.find_elements(By.ID, "dial-busy")
    _try(browser, base, BANK_HOLIDAY_AT)
    _press(browser, "key-0")
    assert "is closed now" in _transcript(browser, "call-transcript")
    assert _errors(browser) == []
    assert _stats(1)[-1]["calls"] == 0 and _stats(1)[-1]["transfers"]["busy"] == 0
    assert _line_counters(base) == before


def _line_counters(base: str) -> list[str]:
    """The /metrics lines that count calls, texts, topics and transfers."""
    counted = ("ivr_calls_total", "ivr_messages_total", "ivr_transfers_total", "ivr_topic_selected_total")
    return sorted(line for line in requests.get(base + "/metrics", timeout=5).text.splitlines()
                  if line.startswith(counted))


def test_try_a_text(base: str, browser: object, script: Script, clean_console: redis.Redis) -> None:
    before = _line_counters(base)
    _try(browser, base, OPEN_AT)
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "message").send_keys("being stalked", Keys.ENTER)
    WebDriverWait(browser, 10).until(_gone(page))
    WebDriverWait(browser, 10).until(lambda d: "being stalked" in _transcript(d, "text-transcript"))
    stalking = script.default.topic("stalking")
    assert stalking is not None
    shown = _transcript(browser, "text-transcript")
    assert stalking.sms_pages[0].splitlines()[0] in shown
    assert "SMS segment" in shown
    page = browser.find_element(By.TAG_NAME, "html")
    Select(browser.find_element(By.ID, "channel")).select_by_visible_text("WhatsApp")
    browser.find_element(By.ID, "message").send_keys("harassed", Keys.ENTER)
    WebDriverWait(browser, 10).until(_gone(page))
    assert "*HARASSMENT*:" in _transcript(browser, "text-transcript")
    assert _stats(1)[-1]["texts"] == 0
    assert _line_counters(base) == before


def test_keyboard_alone_reaches_every_control(base: str, browser: object) -> None:
    _logged_in(browser, base)
    for path in ("/try", "/usage", "/line", ""):
        _open(browser, base + "/console" + path)
        controls = browser.execute_script(
            "return Array.from(document.querySelectorAll("
            "'a[href], button, input:not([type=hidden]), [tabindex=\"0\"]'))"
            ".filter(e => !e.disabled && e.offsetParent !== null)"
        )
        for button in browser.find_elements(By.TAG_NAME, "button"):
            if button.is_displayed():
                assert (button.get_attribute("aria-label") or button.text).strip(), button.get_attribute("outerHTML")
        reached = []
        for _ in range(2 * len(controls) + 5):  # from the top of a fresh page, Tab by Tab (scroll boxes stop it too)
            ActionChains(browser).send_keys(Keys.TAB).perform()
            reached.append(browser.switch_to.active_element)
        missing = [c.get_attribute("outerHTML")[:80] for c in controls if c not in reached]
        assert missing == [], f"{path}: not reachable by Tab: {missing}"
    _open(browser, base + "/console/try")
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "key-1").send_keys(Keys.ENTER)  # a key pressed from the keyboard rings and answers
    WebDriverWait(browser, 10).until(_gone(page))
    try:
        WebDriverWait(browser, 10).until(lambda d: "Caller" in _transcript(d, "call-transcript"))
    except TimeoutException:
        raise AssertionError(_transcript(browser, "call-transcript")) from None
