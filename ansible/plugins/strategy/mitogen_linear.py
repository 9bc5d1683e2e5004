"""Ansible's linear strategy run through Mitogen (pinned in requirements.txt), ansible.cfg's default.

Mitogen keeps one Python interpreter per host for the whole run and caches module code there, instead of
starting a new interpreter and unpacking the module for every task: a no-op rerun of site.yml takes about a
third of the time (docs/benchmarks.md). Plays with `connection: local` (Molecule's create and destroy
playbooks, for one) run with the plain linear strategy: Mitogen saves nothing there, and the async jobs of
Molecule's docker driver never finish under it. Without the package (an Ansible outside the project's venv)
every play falls back to the plain linear strategy with a warning; ANSIBLE_STRATEGY=linear opts out.
"""

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.utils.display import Display

try:
    # Mitogen's own plugin module: it wraps the connection plugins (ssh, docker...) for the play's run.
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenStrategyModule
except ImportError as error:  # pragma: no cover - only outside the venv
    Display().warning(f"Mitogen is not importable ({error}): plain linear strategy. `make venv` installs it.")
    MitogenStrategyModule = LinearStrategyModule


class StrategyModule(MitogenStrategyModule):
    def run(self, iterator, play_context):
        if iterator._play.connection == "local":
            # The linear strategy's own run, without Mitogen's connection wrappers for this play.
            return LinearStrategyModule.run(self, iterator, play_context)
        return super().run(iterator, play_context)
