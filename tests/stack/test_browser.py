"""The site in a real browser: Debian's Chromium driven by Playwright, over HTTPS through nginx, against a
stack of its own (its login budget must not be shared with test_stack.py's throttle test).

Every page a test visits is watched: a console error, a CSP violation (the `securitypolicyviolation` event),
a request that failed or a sub-resource answered with an error fails the test, whatever the test itself
asserts. On a failure the page's screenshot is kept in .local/browser-artifacts/ (or $BROWSER_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from stack_support import ROOT, Stack, running_stack

pytestmark = pytest.mark.stack

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / ".local" / "browser-artifacts"))
ADMIN_PASSWORD = "Br0wser-admin-" + secrets.token_hex(6)
# Reports every CSP violation of every document to the test (exposed binding `__cspViolation`).
CSP_WATCH = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolation(`${e.effectiveDirective} blocked ${e.blockedURI} on ${e.documentURI}`);
});
"""


@dataclass
class Watch:
    """What went wrong in the browser while a test ran."""

    console: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Documents a test expects to be answered with an error status (the CSRF page, the throttle).
    expected: set[tuple[str, int]] = field(default_factory=set)

    def problems(self) -> list[str]:
        return [*self.console, *(f"CSP: {v}" for v in self.csp), *self.failed]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("browser")) as stack:
        created = stack.compose(
            "exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}", "web",
            "python", "manage.py", "createsuperuser", "--noinput",
            "--username", "admin", "--email", "admin@example.org",
        )  # fmt: skip
        assert created.returncode == 0
        yield stack


@pytest.fixture(scope="module")
def chromium():
    assert Path(CHROMIUM).is_file(), "Debian's chromium is missing: scripts/ensure-test-tools.sh installs it"
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(request, site, chromium):
    """A fresh browser profile (Russian, like the site's visitors) whose every problem is recorded."""
    watch = Watch()
    context = chromium.new_context(
        base_url=site.https(""),
        ignore_https_errors=True,
        locale="ru-RU",
        viewport={"width": 1280, "height": 900},
    )
    context.expose_binding("__cspViolation", lambda _source, text: watch.csp.append(text))
    context.add_init_script(CSP_WATCH)

    def watch_page(tab):
        tab.on("console", lambda message: _check_console(watch, message))
        tab.on("requestfailed", lambda request: _check_failure(watch, request))
        tab.on("response", lambda response: _check_response(watch, response))

    context.on("page", watch_page)
    tab = context.new_page()
    tab.watch = watch
    yield tab
    call = getattr(request.node, "rep_call", None)
    if (call and call.failed) or watch.problems():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, open_tab in enumerate(context.pages):
            shot = ARTIFACTS / f"{request.node.name}-{number}.png"
            open_tab.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
    context.close()
    assert watch.problems() == [], "\n".join(watch.problems())


def _check_console(watch: Watch, message) -> None:
    if message.type != "error":
        return
    # Chromium logs "Failed to load resource" for a document answered with an error status; the ones a
    # test expects (the CSRF failure page, the throttle) are not problems.
    url = message.location.get("url", "")
    if "Failed to load resource" in message.text and any(url.endswith(p) for p, _ in watch.expected):
        return
    watch.console.append(f"console error: {message.text} ({url})")


def _check_failure(watch: Watch, request) -> None:
    # A navigation cancels what the page it leaves was still loading (its icon, say): not a failure.
    if request.failure != "net::ERR_ABORTED":
        watch.failed.append(f"failed: {request.url} {request.failure}")


def _check_response(watch: Watch, response) -> None:
    if response.status < 400:
        return
    path = "/" + response.url.split("/", 3)[-1]
    if (path, response.status) in watch.expected and response.request.resource_type == "document":
        return
    watch.failed.append(f"{response.status}: {response.request.resource_type} {response.url}")


def admin_login(page) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_landing_page_and_the_language_switch(page):
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Добро пожаловать" in page.inner_text("main")
    # The stylesheet applied (not blocked): the header is laid out by site.css.
    assert page.eval_on_selector(".site-header", "e => getComputedStyle(e).display") == "flex"
    page.select_option("#language", "en")
    page.click("form.language button")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Welcome" in page.inner_text("main")
    cookie = next(c for c in page.context.cookies() if c["name"] == "django_language")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] > time.time() + 300 * 24 * 3600


def test_admin_add_and_edit_a_user_with_the_calendar_the_permission_filter_and_a_popup(page):
    admin_login(page)
    assert "Администрирование" in page.inner_text("#content")

    name = f"olga-{secrets.token_hex(3)}"
    page.goto("/admin/auth/user/add/")
    page.fill("#id_username", name)
    if page.locator("#id_usable_password_0").count():  # Django 5.1+: "password-based authentication"
        page.check("input[name=usable_password][value=true]")
    page.fill("#id_password1", "Sufficiently-long-pass-42")
    page.fill("#id_password2", "Sufficiently-long-pass-42")
    page.click("input[name=_continue]")
    page.wait_for_url(re.compile(r"/admin/auth/user/\d+/change/"))

    # The calendar of "date joined": open it, pick the 15th of the shown month.
    page.fill("#id_date_joined_0", "")
    link = page.locator("#id_date_joined_0 + .datetimeshortcuts a[id^=calendarlink]")
    number = link.get_attribute("id").removeprefix("calendarlink")
    link.click()
    page.click(f"#calendarbox{number} td a >> text='15'")
    assert re.fullmatch(r"15\.\d\d\.\d{4}", page.input_value("#id_date_joined_0"))

    # The permission filter: narrow the available permissions, choose the first one left.
    page.locator("#id_user_permissions_input").press_sequentially("view user")  # the filter acts on keyup
    available = page.locator("#id_user_permissions_from option")
    assert 1 <= available.count() < 10, "the filter did not narrow the list"
    chosen = available.first.inner_text()
    page.select_option("#id_user_permissions_from", index=0)
    page.click("#id_user_permissions_add")
    assert chosen in page.inner_text("#id_user_permissions_to")

    # A popup: "+" next to the groups opens the group form in a window of its own.
    group = f"editors-{secrets.token_hex(3)}"
    with page.expect_popup() as opened:
        page.click("#add_id_groups")
    popup = opened.value
    popup.fill("#id_name", group)
    # Listening before the click: the popup may close before the click returns.
    with popup.expect_event("close"):
        popup.click("input[name=_save]")
    assert group in page.inner_text("#id_groups_to")

    page.click("input[name=_save]")
    page.wait_for_url("**/admin/auth/user/")
    assert page.locator(".messagelist .success").count() == 1

    # Logout from the admin leads back to the admin.
    page.click("#logout-form button")
    page.wait_for_load_state()
    assert page.locator("a[href='/admin/']").count() >= 1


def test_public_login_header_and_logout(page):
    page.goto("/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/")
    assert "admin" in page.inner_text(".site-header .who")
    page.click("form.logout button")
    page.wait_for_load_state()
    assert "Вы вышли" in page.inner_text("main")
    assert page.locator(".site-header a[href='/accounts/login/']").count() == 1


def test_password_reset_pages(page):
    page.goto("/accounts/login/")
    page.click("a[href='/accounts/password_reset/']")
    page.fill("#id_email", "admin@example.org")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/password_reset/done/")
    page.goto("/accounts/reset/MQ/not-a-token/")
    page.click("a[href='/accounts/password_reset/']")
    page.wait_for_url("**/accounts/password_reset/")


def test_a_stale_form_gets_the_csrf_page(page):
    page.goto("/")
    page.context.clear_cookies()  # the tab outlived its CSRF cookie
    page.watch.expected.add(("/i18n/setlang/", 403))
    page.click("form.language button")
    page.wait_for_load_state()
    assert "Форма устарела" in page.inner_text("main")


def test_a_violation_is_seen_by_the_browser_and_reported_to_the_app(page, site):
    page.goto("/")
    marker = f"csp-probe-{secrets.token_hex(3)}"
    page.evaluate(f"() => {{ const i = new Image(); i.src = 'https://evil.example/{marker}.png'; }}")
    deadline = time.monotonic() + 5
    while not page.watch.csp and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert page.watch.csp and marker in page.watch.csp[0], page.watch.csp
    # The browser's report reaches /csp-report/, which logs it (Chromium delivers reports within a minute).
    deadline = time.monotonic() + 90
    while marker not in (log := site.compose("logs", "--no-color", "web").stdout):
        assert time.monotonic() < deadline, "no CSP report reached the app"
        time.sleep(2)
    assert re.search(rf"CSP violation: img-src blocked https://evil\.example/{marker}\.png on https://", log)
    # The violation was the test's own: it must not fail the watch.
    page.watch.csp.clear()
    page.watch.console = [c for c in page.watch.console if marker not in c]
    page.watch.failed = [f for f in page.watch.failed if marker not in f]


def test_guessing_meets_the_throttle_page(page):
    """Last: it spends this address's login budget (the earlier tests spent some of it already)."""
    page.watch.expected.add(("/accounts/login/", 429))
    texts, throttled = [], []
    # A burst of 5 above 10 a minute: at most 5 guesses plus one per 6 s pass, however slow the browser is,
    # so 20 guesses meet the page at least 3 times whatever tokens refilled meanwhile.
    for attempt in range(20):
        page.goto("/accounts/login/")
        page.fill("#id_username", "admin-guess")
        page.fill("#id_password", f"wrong-{attempt}")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        texts.append(page.inner_text("body"))
        if "Слишком много запросов" in texts[-1]:
            throttled.append(attempt)
        if len(throttled) == 3:
            break
    assert len(throttled) == 3, texts
    assert "Too many requests" in texts[throttled[0]]  # the page says it in both languages
