"""Landing page, static files, error pages, admin and the account views (login, password change/reset)."""

import re

import pytest
from conftest import PROXIED_HTTPS
from django.conf import settings
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-42"


def csrf_token(response):
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "form without a CSRF token"
    return match.group(1)


@pytest.fixture
def browser():
    """HTTPS through the proxy, with CSRF enforced as for a real browser (Origin header included)."""
    return Client(enforce_csrf_checks=True, headers={**PROXIED_HTTPS, "Origin": "https://testserver"})


def test_landing_is_russian_and_runs_exactly_one_query(
    https_client, django_user_model, django_assert_num_queries
):
    django_user_model.objects.create_user("ivan", password=PASSWORD)
    django_user_model.objects.create_user("olga", password=PASSWORD)
    with django_assert_num_queries(1):
        response = https_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert "Добро пожаловать" in html
    assert "2 зарегистрированных пользователя" in html  # Russian plural form for 2
    assert response["Content-Language"] == "ru"
    assert re.search(r'href="/static/css/site\.[0-9a-f]{12}\.css"', html), (
        "stylesheet not under its hashed name"
    )


def test_landing_is_translatable(https_client):
    response = https_client.get("/", headers={"Accept-Language": "en"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "Welcome" in html
    assert "0 registered users" in html


def test_language_switch(browser):
    form = browser.get("/")
    response = browser.post(
        "/i18n/setlang/", {"language": "en", "next": "/", "csrfmiddlewaretoken": csrf_token(form)}
    )
    assert response.status_code == 302
    assert "Welcome" in browser.get("/").content.decode()


def test_static_file_is_served_hashed_compressed_and_cacheable(https_client):
    html = https_client.get("/").content.decode()
    url = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', html).group(1)
    response = https_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"]


def test_custom_404_without_debug_information(https_client):
    response = https_client.get("/definitely/not/here/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Страница не найдена" in html
    for leak in ("Traceback", "URLconf", "DEBUG = True", "Using the URLconf", "config.urls"):
        assert leak not in html


@pytest.mark.urls("failing_urls")
def test_custom_500_without_debug_information():
    client = Client(raise_request_exception=False, headers=PROXIED_HTTPS)
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Ошибка сервера" in html
    assert "Server error" in html
    for leak in ("Traceback", "RuntimeError", "deliberate failure", settings.SECRET_KEY):
        assert leak not in html


def test_admin_login_flow(browser, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.org", PASSWORD)

    response = browser.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    form = browser.get("/admin/login/?next=/admin/")
    assert form.status_code == 200
    response = browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": "admin",
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_token(form),
            "next": "/admin/",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/"
    html = response.content.decode()
    assert "Администрирование" in html  # the admin index, in Russian
    assert 'action="/admin/logout/"' in html

    session_cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert session_cookie["secure"]
    assert session_cookie["httponly"]


def test_admin_login_rejects_a_wrong_password(browser, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.org", PASSWORD)
    form = browser.get("/admin/login/")
    response = browser.post(
        "/admin/login/", {"username": "admin", "password": "wrong", "csrfmiddlewaretoken": csrf_token(form)}
    )
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in browser.cookies


def test_login_logout_and_password_change(browser, django_user_model):
    django_user_model.objects.create_user("ivan", "ivan@example.org", PASSWORD)

    form = browser.get("/accounts/login/")
    assert form.status_code == 200
    assert "Войти" in form.content.decode()
    response = browser.post(
        "/accounts/login/",
        {"username": "ivan", "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(form)},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"

    form = browser.get("/accounts/password_change/")
    assert form.status_code == 200
    new_password = PASSWORD + "-changed"
    response = browser.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": new_password,
            "new_password2": new_password,
            "csrfmiddlewaretoken": csrf_token(form),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Пароль изменён" in response.content.decode()
    assert django_user_model.objects.get(username="ivan").check_password(new_password)

    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token(response)})
    assert response.status_code == 200
    assert "Вы вышли" in response.content.decode()
    assert browser.get("/accounts/password_change/").status_code == 302  # back to the login page


def test_password_reset_sends_mail_and_the_link_works(browser, django_user_model):
    django_user_model.objects.create_user("ivan", "ivan@example.org", PASSWORD)

    form = browser.get("/accounts/password_reset/")
    assert form.status_code == 200
    response = browser.post(
        "/accounts/password_reset/", {"email": "ivan@example.org", "csrfmiddlewaretoken": csrf_token(form)}
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ivan@example.org"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "testserver" in message.subject  # Django's template: "Password reset on <site>", translated
    link = re.search(r"https://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)", message.body)
    assert link, message.body

    # The link stores the token in the session and redirects to a token-free URL (no token in Referer).
    response = browser.get(link.group(1), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("/set-password/")
    new_password = PASSWORD + "-reset"
    response = browser.post(
        response.redirect_chain[-1][0],
        {
            "new_password1": new_password,
            "new_password2": new_password,
            "csrfmiddlewaretoken": csrf_token(response),
        },
        follow=True,
    )
    assert "Пароль восстановлен" in response.content.decode()
    assert django_user_model.objects.get(username="ivan").check_password(new_password)


def test_password_reset_for_unknown_address_sends_nothing(browser):
    form = browser.get("/accounts/password_reset/")
    response = browser.post(
        "/accounts/password_reset/", {"email": "nobody@example.org", "csrfmiddlewaretoken": csrf_token(form)}
    )
    assert response.status_code == 302  # same answer as for a known address: no account enumeration
    assert mail.outbox == []


def test_the_header_shows_who_is_logged_in_and_logs_out_by_post(browser, django_user_model):
    django_user_model.objects.create_user("ivan", "ivan@example.org", PASSWORD)
    anonymous = browser.get("/").content.decode()
    assert 'href="/accounts/login/"' in anonymous
    assert 'action="/accounts/logout/"' not in anonymous

    form = browser.get("/accounts/login/")
    credentials = {"username": "ivan", "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(form)}
    browser.post("/accounts/login/", credentials)
    page = browser.get("/")
    html = page.content.decode()
    assert "ivan" in html
    assert re.search(r'<form class="logout" action="/accounts/logout/" method="post">', html)
    assert 'href="/accounts/login/"' not in html
    assert 'href="/admin/"' not in html  # not staff: no link to the admin

    # A GET shows the button instead of an empty 405; the POST logs out.
    confirm = browser.get("/accounts/logout/")
    assert confirm.status_code == 200
    assert "Вы вошли как ivan" in confirm.content.decode()
    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 200
    assert "Вы вышли" in response.content.decode()
    assert 'href="/accounts/login/"' in response.content.decode()
    assert "_auth_user_id" not in browser.session


def test_the_admin_logs_out_to_its_own_page_and_carries_the_site_name(browser, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.org", PASSWORD)
    form = browser.get("/admin/login/")
    assert "Приложение на Django" in form.content.decode()  # not "Администрирование Django"
    browser.post(
        "/admin/login/", {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(form)}
    )
    index = browser.get("/admin/")
    response = browser.post("/admin/logout/", {"csrfmiddlewaretoken": csrf_token(index)})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/admin/"' in html  # the admin's "log in again", back to the admin
    assert 'class="site-header"' not in html  # not the public template


def test_a_stale_form_gets_a_translated_csp_clean_csrf_page(browser):
    from test_security import inline_code

    browser.get("/")
    response = browser.post("/i18n/setlang/", {"language": "en", "next": "/", "csrfmiddlewaretoken": "stale"})
    html = response.content.decode()
    assert response.status_code == 403
    assert '<html lang="ru">' in html
    assert "Форма устарела" in html
    assert "DEBUG" not in html
    assert inline_code(html) == []


def test_the_language_cookie_lasts_a_year_over_https_only(browser):
    form = browser.get("/")
    response = browser.post(
        "/i18n/setlang/", {"language": "en", "next": "/", "csrfmiddlewaretoken": csrf_token(form)}
    )
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 365 * 24 * 60 * 60


def test_an_invalid_reset_link_offers_a_new_one(browser):
    response = browser.get("/accounts/reset/MQ/bad-token/", follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/accounts/password_reset/"' in html


def test_pages_name_the_icon():
    html = Client(headers=PROXIED_HTTPS).get("/").content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon\.[0-9a-f]{12}\.svg"', html)
