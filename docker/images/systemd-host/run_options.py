"""The `docker run` arguments of a systemd host container, built from run-options.yml beside this file.

    python3 docker/images/systemd-host/run_options.py IMAGE

prints one argument per line: the shared options, then IMAGE and its command, i.e. everything that follows
the per-host options (name, hostname, ports) on `docker run`. scripts/sandbox-host.sh runs the sandbox host
with them; molecule/shared/create.yml hands the same keys to community.docker.docker_container. A key this
module cannot translate is refused, so the sandbox never silently runs without an option Molecule applies.
"""

import shlex
import sys
from pathlib import Path

import yaml

RUN_OPTIONS = Path(__file__).with_name("run-options.yml")

# docker run's flag for each key of run-options.yml: the scalar ones once, the list ones once per item.
SCALAR_FLAGS = {"cgroupns_mode": "--cgroupns"}
LIST_FLAGS = {
    "capabilities": "--cap-add",
    "security_opts": "--security-opt",
    "volumes": "--volume",
    "tmpfs": "--tmpfs",
}
# Not a flag: the command follows the image.
COMMAND = "command"
KEYS = {*SCALAR_FLAGS, *LIST_FLAGS, COMMAND}


def load(path: Path = RUN_OPTIONS) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def docker_run_args(options: dict, image: str) -> list[str]:
    """The arguments after `docker run <per-host options>`: shared options, image, command."""
    unknown = sorted(set(options) - KEYS)
    if unknown:
        raise ValueError(f"{RUN_OPTIONS.name}: no docker run flag for {', '.join(unknown)}")
    missing = sorted(KEYS - set(options))
    if missing:
        raise ValueError(f"{RUN_OPTIONS.name}: missing {', '.join(missing)}")
    args: list[str] = []
    for key, flag in SCALAR_FLAGS.items():
        args += [flag, str(options[key])]
    for key, flag in LIST_FLAGS.items():
        for value in options[key]:
            args += [flag, str(value)]
    return [*args, image, *shlex.split(options[COMMAND])]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {Path(__file__).name} IMAGE", file=sys.stderr)
        return 2
    try:
        args = docker_run_args(load(), argv[0])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
