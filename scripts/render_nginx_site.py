#!/usr/bin/env python3
"""Renders the nginx role's site template for a stack without Ansible (`make up`).

The same file the role writes on a host (ansible/roles/nginx/templates/site.conf.j2), with the same template
choices (ansible/plugins/filter/nginx_site.py reads the image's `nginx -V`), for a local self-signed
certificate in /etc/nginx/tls:

    render_nginx_site.py OUT_DIR "SERVER NAMES" [HTTPS_PORT] [--nginx-image IMAGE] [--tls-dir DIR]
                         [--access-log plain|json] [--web-replicas N]

Writes OUT_DIR/site.conf, or nothing when an input is refused. Needs Jinja2 (the
project's virtualenv has it: Ansible depends on it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import yaml

ANSIBLE = Path(__file__).resolve().parents[1] / "ansible"
ROLE = ANSIBLE / "roles" / "nginx"
FEATURES_PLUGIN = ANSIBLE / "plugins" / "filter" / "nginx_site.py"
# Host names separated by single spaces: nothing that could end the server_name directive.
SERVER_NAMES = re.compile(r"[A-Za-z0-9.*_-]+( [A-Za-z0-9.*_-]+)*")
# The sockets' path as nginx sees it (the role's _nginx_slots_mount, `live`, _nginx_socket_name).
LIVE_SOCKET = "/run/app/live/gunicorn.sock"
MANAGED = "Rendered by scripts/render_nginx_site.py from the nginx role's templates: edit those, not this."
CONTAINER_CERT_DIR = "/etc/nginx/tls"


def _features_module():
    spec = importlib.util.spec_from_file_location("nginx_site", FEATURES_PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bool(value) -> bool:
    """Ansible's `bool` filter, for the values these templates see."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def _checksum(tls_dir: Path | None) -> str:
    """As the tls role records it: sha1 over the files' sha1s (fullchain, key), comma-joined."""
    if tls_dir is None:
        return ""
    files = (tls_dir / "fullchain.pem", tls_dir / "privkey.pem")
    sums = [hashlib.sha1(path.read_bytes()).hexdigest() for path in files]  # noqa: S324
    return hashlib.sha1(",".join(sums).encode()).hexdigest()  # noqa: S324


def _role_limits() -> dict[str, int]:
    """The abuse limits at the role's defaults (nginx_login_rate_per_minute -> login_rate_per_minute...)."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    names = ("login_rate_per_minute", "login_burst", "conn_per_ip")
    return {name: int(defaults[f"nginx_{name}"]) for name in names}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("server_names")
    parser.add_argument("https_port", nargs="?", default="443")
    parser.add_argument("--nginx-image", default="", help="read `nginx -V` of this image (default: baseline)")
    parser.add_argument("--tls-dir", type=Path, help="host directory of fullchain.pem and privkey.pem")
    parser.add_argument(
        "--access-log", choices=("plain", "json"), default="plain", help="the access line (nginx_log_format)"
    )
    parser.add_argument(
        "--web-replicas", type=int, default=1, help="web containers per release slot (WEB_REPLICAS)"
    )
    args = parser.parse_args(argv)

    if not SERVER_NAMES.fullmatch(args.server_names):
        parser.error(f"invalid server name(s) {args.server_names!r}: host names separated by single spaces")
    if args.web_replicas < 1:
        parser.error(f"invalid --web-replicas {args.web_replicas}: 1 or more")
    if not re.fullmatch(r"[0-9]{1,5}", args.https_port) or not 1 <= int(args.https_port) <= 65535:
        parser.error(f"invalid HTTPS port {args.https_port!r}")

    features = _features_module()
    nginx_v = features.BASELINE
    if args.nginx_image:
        result = subprocess.run(  # noqa: S603
            ["docker", "run", "--rm", "--network", "none", args.nginx_image, "nginx", "-V"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        nginx_v = result.stderr + "\n" + result.stdout

    server_names = list(dict.fromkeys(args.server_names.split()))
    site = {
        "server_names": server_names,
        "https_port_suffix": "" if args.https_port == "443" else f":{args.https_port}",
        "https": True,
        "certificate_source": "selfsigned (scripts/local-stack.sh)",
        "certificate_dir": CONTAINER_CERT_DIR,
        "certificate_checksum": _checksum(args.tls_dir),
        "client_ca": "",
        "real_ip_from": [],
        "real_ip_header": "CF-Connecting-IP",
        # The certificate is self-signed (scripts/local-stack.sh makes it).
        "hsts": features.nginx_hsts(server_names[0], "selfsigned"),
        **_role_limits(),
        "access_log": "site_json" if args.access_log == "json" else "site",
        "status_allow": [],
        "upstream_dns": "",
        "upstream_sockets": features.nginx_replica_sockets(args.web_replicas, LIVE_SOCKET),
        "features": features.nginx_features(nginx_v),
    }
    env = jinja2.Environment(  # noqa: S701 - nginx configuration, not HTML
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["bool"] = _bool
    rendered = {
        "site.conf": env.get_template("site.conf.j2").render(_nginx_site=site, ansible_managed=MANAGED),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        tmp = args.out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
