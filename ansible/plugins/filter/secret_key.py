"""`secret_key_problem`: what is wrong with a secret key, by the rule Django itself applies at start-up.

The rule lives in app/config/secret_key.py (standard library only), loaded by path: one rule for Django and
Ansible. The answer never contains the value.
"""

import importlib.util
from pathlib import Path

_RULE_FILE = Path(__file__).resolve().parents[3] / "app" / "config" / "secret_key.py"


def _load_rule():
    spec = importlib.util.spec_from_file_location("project_secret_key_rule", _RULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RULE = _load_rule()


def secret_key_problem(value):
    """'' for a key Django accepts, else the problem ('is shorter than 50 characters'), to follow its name."""
    if not isinstance(value, str):
        return "is not a string"
    return _RULE.secret_key_problem(value)


class FilterModule:
    """The secret-key filter, by name."""

    def filters(self):
        return {"secret_key_problem": secret_key_problem}
