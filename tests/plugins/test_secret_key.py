"""One secret-key rule: Django's start-up check and Ansible's pre-flight check refuse the same keys."""

import formats
import pytest
import secret_key as secret_key_filter
from django.core.exceptions import ImproperlyConfigured

from config.validation import check_secret_key

GOOD = "tests-only-9f2c1a7e4b8d3f6a0c5e9b2d7a4f1c8e3b6d9a2f5c8e1b4d7a0"
KEYS = [
    pytest.param(GOOD, "", id="generated"),
    pytest.param("", "is not set", id="empty"),
    pytest.param("   ", "is not set", id="blank"),
    pytest.param("change-me", "is a known placeholder", id="change-me"),
    pytest.param("changeme-" * 7, "is a known placeholder", id="changeme-repeated"),
    pytest.param("secret", "is a known placeholder", id="secret"),
    pytest.param("django-insecure-" + "x7Kq2" * 12, "is a known placeholder", id="django-insecure"),
    pytest.param(GOOD + "-Password", "is a known placeholder", id="password-inside"),
    pytest.param(GOOD[:20] + "<your key here>" + GOOD[20:], "is a known placeholder", id="angle-brackets"),
    pytest.param(GOOD + "EXAMPLE", "is a known placeholder", id="example-upper-case"),
    pytest.param("short-key", "is shorter than 50 characters", id="short"),
    pytest.param(GOOD[:49], "is shorter than 50 characters", id="49-characters"),
    pytest.param("ab" * 30, "has fewer than 10 distinct characters", id="two-characters"),
    pytest.param("abcdefghi" * 6, "has fewer than 10 distinct characters", id="nine-characters"),
    pytest.param("abcdefghijdefghijabchijabcdefgbcdefghijafghijabcde", "", id="ten-characters"),
    pytest.param("abcdefghij" * 5, "repeats a pattern", id="pattern-repeated"),
    pytest.param(GOOD[:30] + "zzzzz" + GOOD[30:], "repeats a pattern", id="run-of-one"),
    pytest.param(GOOD[:30] + "q1w2q1w2q1w2" + GOOD[30:], "repeats a pattern", id="run-of-4"),
]


@pytest.mark.parametrize(("key", "problem"), KEYS)
def test_ansible_applies_the_rule(key, problem):
    assert secret_key_filter.secret_key_problem(key) == problem
    assert formats.secret_key(key) is (problem == "")


@pytest.mark.parametrize(("key", "problem"), KEYS)
def test_django_applies_the_same_rule(key, problem):
    if problem:
        with pytest.raises(ImproperlyConfigured, match=f"^DJANGO_SECRET_KEY {problem} "):
            check_secret_key(key)
    else:
        check_secret_key(key)


def test_a_refusal_never_contains_the_key():
    for key in ("django-insecure-" + "x7Kq2" * 12, GOOD[:49], "ab" * 30):
        assert key not in secret_key_filter.secret_key_problem(key)


def test_non_strings_are_refused():
    assert secret_key_filter.secret_key_problem(None) == "is not a string"
    assert formats.secret_key(12345) is False
    assert formats.placeholder(None) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("changeme", True), ("Replace_Me-123", True), ("hunter2-password", True), ("xK9q2LmT7vB4", False)],
)
def test_placeholder(value, expected):
    assert formats.placeholder(value) is expected
