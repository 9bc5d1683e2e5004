"""The one rule for a production secret key, shared by Django and Ansible.

Django refuses to start with a key this rule rejects (config/validation.py); Ansible's pre-flight play
refuses to deploy one (`is secret_key` in ansible/plugins/test/formats.py, which loads this file by path).
Standard library only, so that Ansible can load it without Django.
"""

import re

SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 10
# Words that mark a value copied from an example or tutorial instead of generated: anywhere in the value,
# case-insensitive (Django's development keys `django-insecure-...` included).
PLACEHOLDER_PATTERN = re.compile(
    r"change.?me|change.?this|change.?it|replace.?me|placeholder|example|insecure|password|secret|xxxxxx"
    r"|<[a-z_ -]+>"
)
# A pattern typed or pasted over and over ('abc' three times, 'x' five times): long and varied enough by
# the counts above, yet guessable. Rare enough in a generated key that generating another one is the fix.
REPEATED_PATTERN = re.compile(r"(.{3,25})\1{2,}|(.{1,2})\2{4,}")


def is_placeholder(value):
    """Whether a secret contains a word that marks it as copied from an example."""
    return PLACEHOLDER_PATTERN.search(value.lower()) is not None


def secret_key_problem(value):
    """What is wrong with a production secret key ('' when nothing), phrased to follow the variable's name.

    Never contains the value itself.
    """
    if not value.strip():
        return "is not set"
    if is_placeholder(value):
        return "is a known placeholder"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(value)) < SECRET_KEY_MIN_DISTINCT:
        return f"has fewer than {SECRET_KEY_MIN_DISTINCT} distinct characters"
    if REPEATED_PATTERN.search(value):
        return "repeats a pattern"
    return ""
