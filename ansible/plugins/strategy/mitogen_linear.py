"""Ansible's linear strategy run through Mitogen (pinned in requirements.txt), ansible.cfg's default.

Mitogen keeps one Python interpreter per host for the whole run and caches module code there, instead of
starting a new interpreter and unpacking the module for every task: a no-op rerun of site.yml is about twice
as fast (docs/benchmarks.md). Without the package (an Ansible outside the project's venv) this falls back to
the plain linear strategy with a warning; ANSIBLE_STRATEGY=linear opts out.
"""

try:
    # Mitogen's own plugin module: it wraps the connection plugins (ssh, docker, local...) for the run.
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as error:  # pragma: no cover - only outside the venv
    from ansible.plugins.strategy.linear import StrategyModule
    from ansible.utils.display import Display

    Display().warning(f"Mitogen is not importable ({error}): plain linear strategy. `make venv` installs it.")

__all__ = ["StrategyModule"]
