"""Jinja tests for the formats the roles' inputs must have (`stack_domain is hostname`, ...).

Plain functions, one per format; TestModule maps the test names to them. Every test takes the whole value:
a trailing newline or a space anywhere is a mistake, never a match (the `match` test's `$` would accept a
trailing newline). Where a real parser exists it decides: `ipaddress` for addresses and networks, `zoneinfo`
for time zones, Django's EmailValidator for e-mail addresses, `ssh-keygen` for SSH public keys. Calendar
expressions are checked on the host by `systemd-analyze calendar` (the backup and tls roles).
"""

import importlib.util
import ipaddress
import re
import shutil
import subprocess
import zoneinfo
from pathlib import Path

# The secret-key rule is Django's own (app/config/secret_key.py, standard library only): one rule for both.
_SECRET_KEY_RULE_FILE = Path(__file__).resolve().parents[3] / "app" / "config" / "secret_key.py"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Lowercase RFC 1123 name with at least two labels, the last one starting with a letter; or 'localhost'.
_HOSTNAME = re.compile(rf"localhost|(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")
# Docker's reference grammar: [registry[:port]/]path, tag, digest.
_IMAGE_REPO = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]{1,2}[a-z0-9]+)*)*"
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_REPO_ONLY = re.compile(_IMAGE_REPO)
_IMAGE_TAG_ONLY = re.compile(_IMAGE_TAG)
_IMAGE_REF = re.compile(rf"{_IMAGE_REPO}(?::{_IMAGE_TAG})?(?:@sha256:[a-f0-9]{{64}})?")
# A Compose project name (also the prefix of its containers, volumes and units).
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# A portable login or group name (useradd's default NAME_REGEX, at most 32 characters).
_UNIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# An environment variable name as the env files and Compose take it.
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# A plain SQL identifier: no quoting needed in PostgreSQL.
_SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# A BCP 47 language tag as Django's LANGUAGE_CODE takes it ('ru', 'en-us', 'pt-BR').
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[a-zA-Z0-9]+)*")
# A duration in seconds or with a unit suffix, as fail2ban reads it ('600', '10m', '1h').
_DURATION = re.compile(r"[0-9]+[smhdw]?")
# A size with a unit suffix as Docker's json-file log driver reads it ('10m').
_SIZE = re.compile(r"[1-9][0-9]*[kmg]")
# A wall-clock time HH:MM.
_CLOCK_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
# One OpenSSH public key: type, base64 blob, optional comment.
_SSH_KEY_TYPES = (
    r"ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com"
)
_SSH_PUBLIC_KEY = re.compile(rf"(?:{_SSH_KEY_TYPES}) AAAA[A-Za-z0-9+/]+={{0,3}}(?: [^\x00-\x1f\x7f]*)?")
# Names no public certificate authority issues for (RFC 2606 / RFC 6761). '.test' is left out on purpose: a
# test ACME server (Pebble in the tls scenario) issues for it.
_RESERVED_NAME = re.compile(r"localhost|.*\.localhost|(?:.*\.)?example\.(?:com|net|org)|.*\.invalid")
# Any whitespace or control character: never part of a name, path or reference.
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fullmatch(pattern, value):
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def hostname(value):
    """A lowercase RFC 1123 host name with at least two labels, or 'localhost' (at most 253 characters)."""
    return _fullmatch(_HOSTNAME, value) and len(value) <= 253


def reserved_name(value):
    """A host name under a reserved domain (localhost, example.com/.net/.org, .invalid)."""
    return _fullmatch(_RESERVED_NAME, value)


def ip_address(value, version=None, brackets=False):
    """An IPv4 or IPv6 address (only that family when version is 4 or 6); with brackets, an IPv6 address may
    also be written '[::1]' as URLs and Compose's port specifications write it."""
    if not isinstance(value, str) or _BLANK_OR_CONTROL.search(value):
        return False
    if brackets and value.startswith("[") and value.endswith("]"):
        return ip_address(value[1:-1], version=6) and version in (None, 6, "6")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return version is None or address.version == int(version)


def cidr(value, version=None, strict=True):
    """An IPv4 or IPv6 network in CIDR notation ('10.0.0.0/8'); strict: no host bits set ('10.0.0.1/8')."""
    if not isinstance(value, str) or "/" not in value or _BLANK_OR_CONTROL.search(value):
        return False
    try:
        network = ipaddress.ip_network(value, strict=bool(strict))
    except ValueError:
        return False
    return version is None or network.version == int(version)


def email(value):
    """An e-mail address as Django validates it (a local part, '@', a DNS name with a TLD, or localhost)."""
    if not isinstance(value, str) or _BLANK_OR_CONTROL.search(value):
        return False
    # Django is on the control node (requirements.txt includes the app's); imported here so that the other
    # tests load without it.
    from django.core.exceptions import ValidationError
    from django.core.validators import EmailValidator

    try:
        EmailValidator()(value)
    except ValidationError:
        return False
    return True


def image_repo(value):
    """An image repository without tag or digest ('registry:5000/team/app')."""
    return _fullmatch(_IMAGE_REPO_ONLY, value)


def image_tag(value):
    """A Docker tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'."""
    return _fullmatch(_IMAGE_TAG_ONLY, value)


def image_ref(value):
    """A full image reference: repository[:tag][@sha256:digest]."""
    return _fullmatch(_IMAGE_REF, value)


def project_name(value):
    """A Compose project name: lowercase letters, digits, '_', '-', starting with a letter or digit."""
    return _fullmatch(_PROJECT_NAME, value)


def unix_user(value):
    """A login or group name: lowercase letters, digits, '_', '-', not starting with a digit or '-'."""
    return _fullmatch(_UNIX_USER, value)


def env_name(value):
    """An environment variable name in upper case ('DJANGO_DEBUG')."""
    return _fullmatch(_ENV_NAME, value)


def sql_identifier(value):
    """A PostgreSQL identifier that needs no quoting (letters, digits, '_', at most 63)."""
    return _fullmatch(_SQL_IDENTIFIER, value)


def language_code(value):
    """A language tag such as 'ru', 'en-us' or 'pt-BR'."""
    return _fullmatch(_LANGUAGE_CODE, value)


def timezone(value):
    """A time zone name the tz database knows ('Etc/UTC', 'Europe/Moscow')."""
    if not isinstance(value, str) or not value or _BLANK_OR_CONTROL.search(value):
        return False
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def port(value):
    """A TCP/UDP port 1-65535, as an integer or a string of digits."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not value.isdigit() or not value.isascii():
            return False
        value = int(value)
    return isinstance(value, int) and 1 <= value <= 65535


def duration(value):
    """A duration in seconds or with a unit ('600', '10m', '1h', '2d', '1w')."""
    return _fullmatch(_DURATION, str(value) if isinstance(value, int) else value)


def size(value):
    """A size with a unit k, m or g ('10m')."""
    return _fullmatch(_SIZE, value)


def clock_time(value):
    """A wall-clock time HH:MM ('04:00')."""
    return _fullmatch(_CLOCK_TIME, value)


def ssh_public_key(value):
    """One OpenSSH public key on one line (type, base64 blob, optional comment) that ssh-keygen can read: a
    truncated or altered blob is refused."""
    if not _fullmatch(_SSH_PUBLIC_KEY, value):
        return False
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        raise RuntimeError("the ssh_public_key test needs ssh-keygen on the control node (openssh-client)")
    argv = [ssh_keygen, "-l", "-f", "/dev/stdin"]
    result = subprocess.run(argv, input=value + "\n", capture_output=True, text=True, check=False)  # noqa: S603
    return result.returncode == 0


def env_value(value):
    """A value a single-quoted env file line can hold: no quote, no newline or other control character."""
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and "'" not in value and not _CONTROL.search(value)


def absolute_path(value):
    """An absolute path other than '/', without whitespace or a trailing slash ('/srv/app')."""
    return (
        isinstance(value, str)
        and value.startswith("/")
        and len(value) > 1
        and not value.endswith("/")
        and not _BLANK_OR_CONTROL.search(value)
    )


def url(value, schemes=("http", "https")):
    """A URL of one of the schemes without whitespace: 'https://host/path', or 'file:///path' (no host)."""
    if not isinstance(value, str) or _BLANK_OR_CONTROL.search(value):
        return False
    scheme, separator, rest = value.partition("://")
    has_host = bool(rest) and not rest.startswith("/")
    return bool(separator) and scheme in schemes and (has_host or (scheme == "file" and len(rest) > 1))


def _secret_key_rule():
    spec = importlib.util.spec_from_file_location("project_secret_key_rule", _SECRET_KEY_RULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SECRET_KEY_RULE = _secret_key_rule()


def secret_key(value):
    """A production secret key Django accepts (the rule of app/config/secret_key.py)."""
    return isinstance(value, str) and _SECRET_KEY_RULE.secret_key_problem(value) == ""


def placeholder(value):
    """A secret that contains a word marking it as copied from an example ('changeme', 'password', ...)."""
    return isinstance(value, str) and _SECRET_KEY_RULE.is_placeholder(value)


class TestModule:
    """The format tests, by name."""

    def tests(self):
        return {
            "absolute_path": absolute_path,
            "cidr": cidr,
            "clock_time": clock_time,
            "duration": duration,
            "email": email,
            "env_name": env_name,
            "env_value": env_value,
            "hostname": hostname,
            "image_ref": image_ref,
            "image_repo": image_repo,
            "image_tag": image_tag,
            "ip_address": ip_address,
            "language_code": language_code,
            "placeholder": placeholder,
            "port": port,
            "project_name": project_name,
            "reserved_name": reserved_name,
            "secret_key": secret_key,
            "size": size,
            "sql_identifier": sql_identifier,
            "ssh_public_key": ssh_public_key,
            "timezone": timezone,
            "unix_user": unix_user,
            "url": url,
        }
