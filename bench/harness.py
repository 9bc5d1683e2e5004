"""The containers a run measures, next to the Compose stack bench/run.sh started, and their targets.

- naive: the same app image as `gunicorn config.wsgi` with gunicorn's defaults (one sync worker);
- bare: the stack's nginx image, certificate and TLS parameters serving the same static volume, nothing else;
- mirror: the same stack once more (web's image and environment, nginx's image and mounts) with gunicorn's
  access log switched the other way than the stack's default, so both settings are loaded side by side;
- candidates: web's image and environment with other gunicorn settings (or the application metrics on and
  off), loaded directly;
- replicas: two web containers of one release slot (WEB_REPLICAS=2: each gunicorn on a socket of its own in
  the directory they share) behind two nginx, one with the stack's site config (the first socket only), one
  with the config the nginx role renders for two containers (both sockets);
- wrk (and mirror-wrk, whose /etc/hosts sends the site's name to the mirror's nginx, x1-wrk and x2-wrk, the
  same for the replicas' nginx, and web-wrk, in web's network namespace, where gunicorn listens on 127.0.0.1):
  the load generators.

Every container is named `<project>-...`; bench/run.sh removes them all on exit.
"""

# ruff: noqa: S603, S607, S108
# (it runs docker and psql with arguments it builds itself; /tmp paths are inside containers)
from __future__ import annotations

import os
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import containers as c
from .containers import run
from .load import GZIP, Target

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "site.bench.test"
BARE_DOMAIN = "bare.bench.test"
ACCESS_LOG_MARK = "gunicorn.access"  # the logger name on every access line gunicorn writes
# The slots' sockets (docker/compose.yml, APP_SOCKET_DIR), and gunicorn's own port inside a slot.
SOCKETS_MOUNT = "/run/app"
LOCAL_GUNICORN = "http://127.0.0.1:8000/"
# APP_METRICS_PORT of the candidates with the application metrics: the gunicorn master's, in their container.
METRICS_PORT = "9464"
# Web containers of the replicas' slot, and the socket only the second one binds (app/config/replica.py).
REPLICAS = 2
SECOND_SOCKET = "gunicorn-2.sock"


def logs(container: str) -> str:
    out = run(["docker", "logs", container])
    return out.stdout + out.stderr


def switch(on: bool) -> str:
    return "true" if on else "false"


@dataclass
class Harness:
    project: str
    state: Path
    app_image: str
    python_image: str
    nginx_image: str
    wrk_image: str
    services: dict[str, str] = field(default_factory=dict)
    dynamic: list[Target] = field(default_factory=list)
    static: list[Target] = field(default_factory=list)
    replicas: list[Target] = field(default_factory=list)
    static_file: dict = field(default_factory=dict)
    access_log_default: bool = True

    def name(self, part: str) -> str:
        return f"{self.project}-{part}"

    @property
    def frontend(self) -> str:
        return f"{self.project}_frontend"

    @property
    def backend(self) -> str:
        return f"{self.project}_backend"

    @property
    def app_headers(self) -> list[tuple[str, str]]:
        """What nginx sends to gunicorn, for the targets that reach gunicorn directly."""
        return [("Host", DOMAIN), ("X-Forwarded-Proto", "https")]

    def curl(self, url: str, headers: list[tuple[str, str]] = (), client: str | None = None):
        """Status, body and response headers of one request from a load generator's container."""
        cmd = ["docker", "exec", client or self.name("wrk"), "curl", "-sk", "--max-time", "10"]
        cmd += ["-D", "/dev/stderr"]
        for name, value in headers:
            cmd += ["-H", f"{name}: {value}"]
        res = subprocess.run(
            [*cmd, "-w", "\n%{http_code}", url], capture_output=True, timeout=30, check=False
        )
        body, _, status = res.stdout.rpartition(b"\n")
        return int(status or 0), body, res.stderr.decode(errors="replace").lower()

    def wait_for(self, t: Target, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while (answer := self.curl(t.url, t.headers, t.client))[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{t.label} does not answer 200 (last: {answer[0]})")
            time.sleep(0.5)
        return answer[1]

    # --- start ---

    def start(self) -> None:
        self.services = c.compose_services(self.project)
        self.start_naive()
        self.start_bare()
        self.start_client("wrk", {DOMAIN: self.services["nginx"], BARE_DOMAIN: self.name("bare")})
        self.start_local_client("web-wrk", self.services["web"])
        self.access_log_default = self.access_log_written(self.services["web"], self.name("web-wrk"))
        self.start_mirror(access_log=not self.access_log_default)
        self.start_client("mirror-wrk", {DOMAIN: self.name("mirror-nginx")})
        self.start_replicas()
        self.targets()

    def start_naive(self) -> None:
        # gunicorn's defaults: no config file (the working directory is not /app, where gunicorn.conf.py
        # would be picked up). FORWARDED_ALLOW_IPS lets it believe X-Forwarded-Proto like web does, so both
        # serve the page rather than an HTTPS redirect.
        run(
            [
                "docker", "run", "-d", "--name", self.name("naive"), "--network", self.backend,
                "--env-file", str(self.state / "stack.env"), "-e", "POSTGRES_HOST=db",
                "-e", "FORWARDED_ALLOW_IPS=*", "--workdir", "/tmp", self.app_image,
                "gunicorn", "--chdir", "/app", "--bind", "0.0.0.0:8000", "config.wsgi",
            ]
        )  # fmt: skip

    def start_bare(self) -> None:
        # No security or cache headers, no regex location: what nginx costs with nothing configured.
        conf = self.state / "bare"
        conf.mkdir(exist_ok=True)
        (conf / "default.conf").write_text(
            "server {\n    listen 443 ssl;\n    http2 on;\n    server_name _;\n"
            "    ssl_certificate /etc/nginx/tls/fullchain.pem;\n"
            "    ssl_certificate_key /etc/nginx/tls/privkey.pem;\n"
            "    include /etc/nginx/snippets/tls-params.conf;\n"
            "    root /srv;\n    gzip_static on;\n    access_log off;\n}\n"
        )
        run(
            [
                "docker", "run", "-d", "--name", self.name("bare"), "--network", self.frontend,
                "-v", f"{conf}:/etc/nginx/conf.d:ro", "-v", f"{self.state / 'tls'}:/etc/nginx/tls:ro",
                "-v", f"{ROOT / 'ansible/roles/nginx/files/snippets'}:/etc/nginx/snippets:ro",
                "-v", f"{self.project}_static:/srv/static:ro", self.nginx_image,
            ]
        )  # fmt: skip

    def start_client(self, part: str, hosts: dict[str, str]) -> None:
        """A load generator on both networks whose /etc/hosts resolves `hosts` (name -> container)."""
        client = self.name(part)
        run(["docker", "run", "-d", "--name", client, "--network", self.frontend, self.wrk_image])
        run(["docker", "network", "connect", self.backend, client])
        lines = "".join(f"{c.ip(container, self.frontend)} {name}\\n" for name, container in hosts.items())
        script = "grep -v bench.test /etc/hosts > /tmp/hosts; cat /tmp/hosts > /etc/hosts; "
        run(["docker", "exec", client, "sh", "-c", f"{script}printf '{lines}' >> /etc/hosts"])

    def start_local_client(self, part: str, container: str) -> None:
        """A load generator in `container`'s network namespace: gunicorn listens on 127.0.0.1 there (nginx
        reaches it over the slot's Unix socket, nothing else over the network)."""
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                self.name(part),
                "--network",
                f"container:{container}",
                self.wrk_image,
            ]
        )

    def app_env_file(self, name: str, source: str, prefixes: tuple[str, ...] = ()) -> Path:
        """An env file with `source`'s environment (only the variables under `prefixes`, if given)."""
        env = c.env_of(source)
        path = self.state / f"{name}.env"
        path.write_text(
            "".join(f"{k}={v}\n" for k, v in env.items() if not prefixes or k.startswith(prefixes))
        )
        return path

    def start_mirror(self, *, access_log: bool) -> None:
        """web and nginx once more: the same images, environment and mounts, one switch flipped. The mirror's
        web has a sockets volume of its own (seeded by the image, `live` -> web), which the mirror's nginx
        mounts instead of the stack's."""
        web, nginx = self.name("mirror-web"), self.name("mirror-nginx")
        env_file = self.app_env_file("mirror", self.services["web"])
        run(
            [
                "docker", "run", "-d", "--name", web, "--network", self.backend, "--env-file", str(env_file),
                "-e", f"GUNICORN_ACCESS_LOG={switch(access_log)}", "--memory", "384m",
                "-v", SOCKETS_MOUNT, self.app_image,
            ]
        )  # fmt: skip
        mounts = self.nginx_mounts(web)
        run(["docker", "run", "-d", "--name", nginx, "--network", self.frontend, *mounts, self.nginx_image])

    def nginx_mounts(self, sockets_from: str, conf_dir: Path | None = None) -> list[str]:
        """The stack nginx's mounts as `docker run` flags, with the sockets of the container `sockets_from`
        instead of the stack's (and `conf_dir` as the site config directory, when given)."""
        mounts = ["--volumes-from", f"{sockets_from}:ro"]
        for m in c.inspect(self.services["nginx"])["Mounts"]:
            if m["Destination"] == SOCKETS_MOUNT:
                continue
            source = m["Name"] if m["Type"] == "volume" else m["Source"]
            if conf_dir is not None and m["Destination"] == "/etc/nginx/conf.d":
                source = str(conf_dir)
            mounts += ["-v", f"{source}:{m['Destination']}{'' if m['RW'] else ':ro'}"]
        return mounts

    def start_replicas(self) -> None:
        """Two web containers of one slot and two nginx in front of them (see the module's docstring). The
        second nginx's site config is rendered like the stack's (scripts/local-stack.sh render-nginx, the same
        names, port and image), for WEB_REPLICAS=2."""
        env_file = self.app_env_file("replicas", self.services["web"])
        first, second = self.name("x-web-1"), self.name("x-web-2")
        for container, sockets in ((first, ["-v", SOCKETS_MOUNT]), (second, ["--volumes-from", first])):
            run(
                [
                    "docker", "run", "-d", "--name", container, "--network", self.backend,
                    "--env-file", str(env_file), "-e", f"GUNICORN_REPLICAS={REPLICAS}", "--memory", "384m",
                    "--tmpfs", "/tmp:size=64m", *sockets, self.app_image,
                ]
            )  # fmt: skip
        conf = self.state / "replicas-conf"
        render = [str(ROOT / "scripts/local-stack.sh"), "render-nginx", str(conf), DOMAIN]
        render.append(os.environ.get("LOCAL_HTTPS_PORT", "443"))
        run(render, env={**os.environ, "LOCAL_WEB_REPLICAS": str(REPLICAS), "NGINX_IMAGE": self.nginx_image})
        for part, conf_dir in (("x1-nginx", None), ("x2-nginx", conf)):
            run(
                [
                    "docker", "run", "-d", "--name", self.name(part), "--network", self.frontend,
                    *self.nginx_mounts(first, conf_dir), self.nginx_image,
                ]
            )  # fmt: skip
            self.start_client(part.replace("nginx", "wrk"), {DOMAIN: self.name(part)})

    def check_replica_upstreams(self) -> None:
        """The two targets measured what they claim: one nginx reached the first container only, the other
        both (the upstream in their access lines)."""
        for part, expected in (("x1-nginx", False), ("x2-nginx", True)):
            if (SECOND_SOCKET in logs(self.name(part))) != expected:
                raise RuntimeError(f"{part}: the second socket in its upstreams is {not expected}")

    def access_log_written(self, container: str, client: str) -> bool:
        """Whether gunicorn in `container` writes access lines (after a few requests to it from `client`, in
        its network namespace)."""
        target = Target("probe", container, LOCAL_GUNICORN, self.app_headers, client=client)
        for _ in range(3):
            self.wait_for(target, 60)
        time.sleep(1)
        return ACCESS_LOG_MARK in logs(container)

    # --- targets ---

    def targets(self) -> None:
        svc, app = self.services, self.app_headers
        stack_cpu = {"nginx": svc["nginx"], "web": svc["web"], "db": svc["db"]}
        mirror_cpu = {"nginx": self.name("mirror-nginx"), "web": self.name("mirror-web"), "db": svc["db"]}
        self.dynamic = [
            Target("stack", "stack: nginx (HTTPS) -> gunicorn", f"https://{DOMAIN}:443/", cpu=stack_cpu),
            Target(
                "mirror",
                "the same stack, gunicorn's access log switched",
                f"https://{DOMAIN}:443/",
                cpu=mirror_cpu,
                client=self.name("mirror-wrk"),
            ),
            Target(
                "direct",
                "gunicorn direct (web)",
                LOCAL_GUNICORN,
                app,
                {"web": svc["web"], "db": svc["db"]},
                client=self.name("web-wrk"),
            ),
            Target(
                "naive",
                "naive: `gunicorn config.wsgi` (1 sync worker)",
                f"http://{c.ip(self.name('naive'), self.backend)}:8000/",
                app,
                {"naive": self.name("naive"), "db": svc["db"]},
            ),
        ]
        body = self.wait_for(self.dynamic[3], 60)
        self.wait_for(self.dynamic[1], 90)
        match = re.search(r'/static/[^"\'\s]+\.[0-9a-f]{12}\.css', body.decode())
        if not match:
            raise RuntimeError("no hashed CSS link in the page")
        css = match.group(0)
        stack_css, bare_css = f"https://{DOMAIN}:443{css}", f"https://{BARE_DOMAIN}:443{css}"
        wn_css = f"{LOCAL_GUNICORN.rstrip('/')}{css}"
        self.static = []
        for gz in ("", " gzip"):
            hdr = [GZIP] if gz else []
            self.static += [
                Target(f"static-stack{gz}", f"stack nginx{gz}", stack_css, hdr, {"nginx": svc["nginx"]}),
                Target(
                    f"static-wn{gz}",
                    f"WhiteNoise in gunicorn{gz}",
                    wn_css,
                    app + hdr,
                    {"web": svc["web"]},
                    client=self.name("web-wrk"),
                ),
                Target(f"static-bare{gz}", f"bare nginx{gz}", bare_css, hdr, {"bare": self.name("bare")}),
            ]
        webs = {"web": self.name("x-web-1"), "web2": self.name("x-web-2"), "db": svc["db"]}
        self.replicas = [
            Target(
                f"web-x{n}",
                f"nginx (HTTPS) -> {n} web container{'s' if n > 1 else ''} of the slot",
                f"https://{DOMAIN}:443/",
                cpu={"nginx": self.name(f"x{n}-nginx"), **webs},
                client=self.name(f"x{n}-wrk"),
            )
            for n in (1, REPLICAS)
        ]
        for t in self.replicas:
            self.wait_for(t, 90)
        self.check_targets(css)

    def check_targets(self, css: str) -> None:
        sizes = {}
        for t in self.dynamic + self.static + self.replicas:
            status, body, headers = self.curl(t.url, t.headers, t.client)
            if status != 200:
                raise RuntimeError(f"{t.label}: {t.url} answered {status}")
            gz = "content-encoding: gzip" in headers
            if (GZIP in t.headers) != gz:
                raise RuntimeError(f"{t.label}: gzip expected {GZIP in t.headers}, got {gz}")
            if t.key.startswith("static"):
                sizes[gz] = len(body)
        self.static_file = {"path": css, "bytes": sizes[False], "gzip_bytes": sizes[True]}

    def check_access_logs(self) -> None:
        """The switch works: the stack and its mirror wrote access lines exactly where they were expected."""
        for container, expected in (
            (self.services["web"], self.access_log_default),
            (self.name("mirror-web"), not self.access_log_default),
        ):
            if (ACCESS_LOG_MARK in logs(container)) != expected:
                raise RuntimeError(f"{container}: access log lines do not match GUNICORN_ACCESS_LOG")

    # --- gunicorn candidates ---

    def start_candidates(self, candidates: list[tuple[str, dict[str, str]]]) -> list[Target]:
        """One container per candidate (web's image and DJANGO_/POSTGRES_/GUNICORN_ environment plus the
        candidate's values) on the backend network; returns their targets once all answer."""
        env_file = self.app_env_file("candidate", self.services["web"], ("DJANGO_", "POSTGRES_", "GUNICORN_"))
        targets = []
        for i, (label, env) in enumerate(candidates):
            container = self.name(f"gv{i}")
            overrides = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
            # /tmp a tmpfs as in web (docker/compose.yml): the metrics' per-process files live there.
            run(
                [
                    "docker", "run", "-d", "--name", container, "--network", self.backend,
                    "--env-file", str(env_file), "-e", "GUNICORN_FORWARDED_ALLOW_IPS=*",
                    "-e", "GUNICORN_BIND=0.0.0.0:8000", "--tmpfs", "/tmp:size=64m",
                    "--memory", "384m", *overrides, self.app_image,
                ]
            )  # fmt: skip
            url = f"http://{c.ip(container, self.backend)}:8000/"
            targets.append(
                Target(
                    f"candidate {label}",
                    label,
                    url,
                    self.app_headers,
                    {"web": container, "db": self.services["db"]},
                )
            )
        for t in targets:
            self.wait_for(t, 90)
        return targets

    def pages_counted(self, container: str) -> bool:
        """Whether the gunicorn master in `container` serves metrics that counted requests to `/` (its metrics
        port is closed when DJANGO_METRICS is off)."""
        url = f"http://{c.ip(container, self.backend)}:{METRICS_PORT}/metrics"
        status, body, _ = self.curl(url)
        counter = b"django_http_requests_total_by_view_transport_method_total"
        landing = rb"^" + counter + rb'\{[^}]*view="landing"[^}]*\} [1-9]'
        return status == 200 and re.search(landing, body, re.M) is not None


class Psql:
    """SQL through one long-lived psql session in the db container (a session per query would count as a
    new connection in the very counter it reads)."""

    def __init__(self, db_container: str) -> None:
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [
                "docker",
                "exec",
                "-i",
                db_container,
                "psql",
                "-U",
                "app",
                "-d",
                "app",
                "-At",
                "-v",
                "ON_ERROR_STOP=0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def query(self, sql: str) -> str:
        with self.lock:
            marker = f"--end-{secrets.token_hex(4)}"
            self.proc.stdin.write(f"{sql};\n\\echo {marker}\n")
            self.proc.stdin.flush()
            lines = []
            while (line := self.proc.stdout.readline()) and line.strip() != marker:
                lines.append(line.strip())
            return "\n".join(lines)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
