"""The one configuration source shared by settings.py and gunicorn.conf.py: the process environment.

python-decouple's default `config` (AutoConfig) would also read a `.env` or `settings.ini` found in the
caller's directory or any parent of it. The same image must behave identically everywhere and only its
environment may change it, so no such file is consulted.

The one other source is the secrets directory (APP_SECRETS_DIR, /run/secrets by default: where Docker Swarm
mounts a service's secrets): a file named like a variable holds its value, for the variables the
environment does not set (python-decouple's RepositorySecret).
"""

import ipaddress
import os

from decouple import Choices, Config, Csv, RepositoryEmpty, RepositorySecret, UndefinedValueError, undefined
from django.core.exceptions import ImproperlyConfigured

_secrets_dir = os.environ.get("APP_SECRETS_DIR", "/run/secrets")
_environment = Config(RepositorySecret(_secrets_dir) if os.path.isdir(_secrets_dir) else RepositoryEmpty())

# Comma-separated list; blank items (a trailing comma, " , ") are dropped rather than kept as "".
csv_list = Csv(post_process=lambda items: [item for item in items if item])
# Comma-separated IP networks (a bare address is a /32 or /128), parsed by the standard library.
networks = Csv(cast=lambda item: ipaddress.ip_network(item, strict=False), post_process=tuple)


def config(name, default=undefined, cast=undefined):
    """Read `name` from the environment; a bad or missing value fails naming the variable.

    The offending value is never echoed: it could be a secret set in the wrong variable.
    """
    try:
        return _environment(name, default=default, cast=cast)
    except UndefinedValueError:
        raise ImproperlyConfigured(f"{name} is not set.") from None
    except ValueError:
        expected = _describe(cast)
        raise ImproperlyConfigured(f"{name} has an invalid value; expected {expected}.") from None


def _describe(cast):
    if isinstance(cast, Choices):
        return "one of " + ", ".join(cast.flat)
    if cast is networks:
        return "comma-separated IP addresses or networks (CIDR)"
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number"}.get(cast, "a valid value")


__all__ = ["Choices", "config", "csv_list", "networks"]
