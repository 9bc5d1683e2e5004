"""The format tests the roles validate their inputs with (ansible/plugins/test/formats.py)."""

import subprocess

import formats
import pytest


def cases(valid, invalid):
    return [pytest.param(value, True, id=f"ok:{value!r}") for value in valid] + [
        pytest.param(value, False, id=f"bad:{value!r}") for value in invalid
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["app.example.com", "localhost", "a.b", "x-1.example.org", "a" * 63 + ".com", "1.example.com"],
        [
            "app.example.com\n",
            " app.example.com",
            "app .example.com",
            "app.example.com.",
            "App.example.com",
            "my_site.example.com",
            "example",
            "-app.example.com",
            "app-.example.com",
            "a" * 64 + ".com",
            "app.example.123",
            "not a domain!",
            "",
            ".".join(["abcdefghi"] * 26) + ".com",  # 263 characters
            None,
            42,
        ],
    ),
)
def test_hostname(value, expected):
    assert formats.hostname(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["localhost", "app.localhost", "example.com", "www.example.org", "site.invalid"],
        ["app.example.co", "myexample.com", "localhost.example.net.eu", "app.invalid.com", "acme.app.test"],
    ),
)
def test_reserved_name(value, expected):
    assert formats.reserved_name(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["10.0.0.0/8", "173.245.48.0/20", "0.0.0.0/0", "192.168.1.7/32", "2400:cb00::/32", "::/0", "::1/128"],
        [
            "10.0.0.0/33",
            "300.1.1.1/8",
            "10.0.0.1/8",  # host bits set
            "2400:cb00::1/32",
            "10.0.0.0",
            "10.0.0.0/8\n",
            " 10.0.0.0/8",
            "10.0.0/8",
            "10.0.0.0/-1",
            "2400:cb00::/129",
            "gggg::/16",
            "",
            None,
        ],
    ),
)
def test_cidr(value, expected):
    assert formats.cidr(value) is expected


def test_cidr_by_family_and_without_strictness():
    assert formats.cidr("10.0.0.0/8", version=4)
    assert not formats.cidr("10.0.0.0/8", version=6)
    assert formats.cidr("2400:cb00::/32", version=6)
    assert formats.cidr("127.0.0.1/8", strict=False)
    assert not formats.cidr("127.0.0.1/8")
    assert not formats.cidr("127.0.0.1/33", strict=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["127.0.0.1", "0.0.0.0", "203.0.113.10", "::1", "::", "2001:db8::10"],  # noqa: S104 - parsed only
        ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4\n", "1.2.3.4/32", "::1 ", "localhost", "[::1]", "", None],
    ),
)
def test_ip_address(value, expected):
    assert formats.ip_address(value) is expected


def test_ip_address_by_family():
    assert formats.ip_address("10.1.2.3", version=4)
    assert not formats.ip_address("::1", version=4)
    assert formats.ip_address("::1", version=6)


def test_ip_address_in_brackets():
    assert formats.ip_address("[::]", brackets=True)
    assert formats.ip_address("[2001:db8::10]", version=6, brackets=True)
    assert not formats.ip_address("[::1]", version=4, brackets=True)
    assert not formats.ip_address("[127.0.0.1]", brackets=True)
    assert not formats.ip_address("[::1", brackets=True)
    assert formats.ip_address("127.0.0.1", brackets=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        [
            "nginx:1.27.5",
            "docker.io/library/nginx:1.27.5",
            "registry.example.com:5000/team/app:v2.1",
            "certbot/certbot:v3.0.0",
            "local/python:3.13",
            "postgres",
            "nginx@sha256:" + "a" * 64,
            "nginx:1.27.5@sha256:" + "0" * 64,
            "team/my__app",
        ],
        [
            "nginx:1.27.5\n",
            "Nginx:1.28",
            "nginx:",
            "nginx:-tag",
            "nginx:" + "t" * 129,
            "nginx@sha256:abc",
            "nginx:1.27.5 ",
            "/nginx",
            "nginx/",
            "",
            None,
        ],
    ),
)
def test_image_ref(value, expected):
    assert formats.image_ref(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["djangoapp/web", "registry.example.com:5000/team/app", "web"],
        ["djangoapp/web:v1", "djangoapp/web@sha256:" + "a" * 64, "djangoapp/web\n", "DjangoApp/web", ""],
    ),
)
def test_image_repo(value, expected):
    assert formats.image_repo(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["v2", "molecule", "1.2.3-4-gabcdef012345-dirty", "_x", "A" * 128],
        ["", ".v2", "-v2", "v2\n", "v 2", "v2/1", "A" * 129],
    ),
)
def test_image_tag(value, expected):
    assert formats.image_tag(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["noreply@example.com", "ops+alerts@mail.example.org", "root@localhost", "a.b@x.io"],
        [
            "webmaster-at-localhost",
            "noreply@example.com\n",
            "no reply@example.com",
            "noreply@example",
            "noreply@example.c",
            "@example.com",
            "noreply@",
            "",
            None,
        ],
    ),
)
def test_email(value, expected):
    assert formats.email(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["djangoapp", "my-app_2", "0app", "a" * 63],
        ["MyApp", "-app", "_app", "my app", "app\n", "a" * 64, "", None],
    ),
)
def test_project_name(value, expected):
    assert formats.project_name(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["deploy", "_svc", "web-admin", "u1", "a" * 32],
        ["Deploy", "1user", "-user", "deploy\n", "de ploy", "a" * 33, "", None],
    ),
)
def test_unix_user(value, expected):
    assert formats.unix_user(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["Etc/UTC", "UTC", "Europe/Moscow", "America/Argentina/Buenos_Aires", "Asia/Kolkata"],
        [
            "Europe/Atlantis",
            "Mars/Olympus_Mons",
            "Europe/Moscow\n",
            " UTC",
            "../../etc/passwd",
            "/usr/share/zoneinfo/UTC",
            "europe moscow",
            "",
            None,
        ],
    ),
)
def test_timezone(value, expected):
    assert formats.timezone(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        [1, 22, 443, 65535, "8443", "1"],
        [0, 65536, -1, "0", "65536", "22\n", "22a", "", "٣", True, None, 2.5],
    ),
)
def test_port(value, expected):
    assert formats.port(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(["600", 600, "10m", "1h", "2d", "1w", "30s"], ["10 m", "10min", "1h\n", "-1", "", "m", None]),
)
def test_duration(value, expected):
    assert formats.duration(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), cases(["10m", "1g", "512k"], ["0m", "10", "10M", "10mb", "10m\n"])
)
def test_size(value, expected):
    assert formats.size(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), cases(["04:00", "00:00", "23:59"], ["24:00", "4:00", "04:60", "04:00\n", "0400"])
)
def test_clock_time(value, expected):
    assert formats.clock_time(value) is expected


KEY_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIPvySQD6sAhDr7VvJam5OH40f80+TGv/9z+uwvKktTPJ"


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        [f"ssh-ed25519 {KEY_BLOB}", f"ssh-ed25519 {KEY_BLOB} ops@laptop two words"],
        [
            "hunter2",
            # The blob says ed25519: ssh-keygen refuses a key whose type and blob disagree.
            f"ssh-rsa {KEY_BLOB}",
            f"ssh-ed25519 {KEY_BLOB[:-8]}",
            f"ssh-ed25519 {KEY_BLOB}\nssh-ed25519 {KEY_BLOB}",
            f"ssh-ed25519 {KEY_BLOB}\n",
            f"ssh-dss {KEY_BLOB}",
            "ssh-ed25519 BBBB",
            "",
        ],
    ),
)
def test_ssh_public_key(value, expected):
    assert formats.ssh_public_key(value) is expected


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_ssh_public_key_reads_generated_keys_and_refuses_them_truncated(tmp_path, key_type):
    argv = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "ops@laptop", "-f", str(tmp_path / "id")]
    subprocess.run(argv, check=True)
    key = (tmp_path / "id.pub").read_text().strip()
    key_type_name, blob, comment = key.split(" ")
    assert formats.ssh_public_key(key)
    assert not formats.ssh_public_key(f"{key_type_name} {blob[: len(blob) // 2]} {comment}")


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["/srv/djangoapp", "/var/tmp", "/bin/bash"],  # noqa: S108 - parsed only
        ["/", "srv/app", "/srv/app/", "/srv/my app", "/srv\n", ""],
    ),
)
def test_absolute_path(value, expected):
    assert formats.absolute_path(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["https://download.docker.com/linux/debian", "http://mirror.local/x", "https://acme.test/directory"],
        ["ftp://host/x", "https://", "https:///path", "https://host/a b", "https://host\n", "host/path", ""],
    ),
)
def test_url(value, expected):
    assert formats.url(value) is expected


def test_url_with_other_schemes():
    assert formats.url("file:///etc/apt/keyrings/docker.asc", schemes=["https", "file"])
    assert formats.url("file://localhost/etc/docker.asc", schemes=["https", "file"])
    assert not formats.url("file:///", schemes=["file"])
    assert not formats.url("file:///etc/docker.asc")


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(["DJANGO_DEBUG", "_X", "A1"], ["django_debug", "1A", "A-B", "A B", "A\n", ""]),
)
def test_env_name(value, expected):
    assert formats.env_name(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(["djangoapp", "App_1", "_x"], ["1app", "my-app", "a b", "app\n", "a" * 64, ""]),
)
def test_sql_identifier(value, expected):
    assert formats.sql_identifier(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), cases(["ru", "en-us", "pt-BR", "zh-hant"], ["RU", "r", "en_us", "en-", "ru\n", ""])
)
def test_language_code(value, expected):
    assert formats.language_code(value) is expected


def test_every_test_is_registered_under_its_own_name():
    tests = formats.TestModule().tests()
    assert {name: function.__name__ for name, function in tests.items()} == {name: name for name in tests}


@pytest.mark.parametrize(
    ("value", "expected"),
    cases(
        ["", "plain", "with space and $dollar", 'double"quote', 587, True],
        ["it's", "two\nlines", "cr\r", "nul\x00"],
    ),
)
def test_env_value(value, expected):
    assert formats.env_value(value) is expected
