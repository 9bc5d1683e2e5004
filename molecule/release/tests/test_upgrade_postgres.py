"""PostgreSQL major upgrade (upgrade-postgres.yml) on the host the release tests leave behind, in file order:
a new major in the image pin alone is refused, bad targets are refused, a forced failure leaves PostgreSQL 17
serving its untouched data, the upgrade to 18 keeps every row, checksum and sequence under load, and a deploy
afterwards wants an image of the new major."""

from __future__ import annotations

import json
import time

from conftest import (
    PROJECT,
    ROOT,
    Load,
    get,
    host_sh,
    output_of,
    playbook,
    psql,
    record_metric,
    site_ok,
    wait_for,
)

OLD, NEW = 17, 18
NEW_IMAGE = f"local/postgres:{NEW}"  # docker/images/local.env POSTGRES_18_IMAGE
OLD_VOLUME, NEW_VOLUME = f"{PROJECT}_pgdata", f"{PROJECT}_pgdata-{NEW}"
ROWS = 200_000
CREATE_SQL = (
    "DROP TABLE IF EXISTS upgrade_probe;"
    "CREATE TABLE upgrade_probe (id bigserial PRIMARY KEY, note text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now(), amount numeric(12, 2), flags jsonb);"
    "INSERT INTO upgrade_probe (note, amount, flags)"
    " SELECT md5(g::text) || repeat('y', 40), g / 7.0, jsonb_build_object('g', g, 'even', g % 2 = 0)"
    " FROM generate_series(1, 200000) g;"
)


def data_checksums() -> dict[str, str]:
    """Rows and an md5 over every row of every table in the public schema, and the probe's sequence: computed
    here, not with the role's own fingerprint query."""
    tables = psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;").split()
    assert "upgrade_probe" in tables and "auth_user" in tables, tables
    # The names come from pg_tables.
    query = " UNION ALL ".join(
        f"SELECT '{t}', count(*) || ' ' || md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"  # noqa: S608
        f" FROM {t} r"
        for t in tables
    )
    sums = dict(line.split("|", 1) for line in psql(query + ";").splitlines())
    sums["upgrade_probe_id_seq"] = psql("SELECT last_value FROM upgrade_probe_id_seq;")
    return sums


def flat(text: str) -> str:
    """Ansible's output with its line wrapping undone."""
    return " ".join(text.split())


def server_major() -> int:
    return int(psql("SHOW server_version_num;")) // 10000


def env_value(name: str) -> str:
    line = host_sh(f"grep '^{name}=' {ROOT}/.env").stdout.strip()
    return line.split("=", 1)[1].strip("'")


def volume_exists(name: str) -> bool:
    return host_sh(f"docker volume inspect {name}", check=False).returncode == 0


def volume_major(name: str) -> str:
    return host_sh(
        f'cat "$(docker volume inspect --format {{{{.Mountpoint}}}} {name})/PG_VERSION"'
    ).stdout.strip()


def test_a_new_major_in_the_image_pin_alone_is_refused():
    psql(CREATE_SQL)
    before = data_checksums()
    refused = playbook("deploy", {"stack_postgres_image": NEW_IMAGE})
    out = flat(output_of(refused))
    assert refused.returncode != 0
    assert f"stack_postgres_image {NEW_IMAGE} is PostgreSQL {NEW}" in out, out[-3000:]
    assert f"upgrade-postgres.yml -i ENV -e postgres_target={NEW}" in out, out[-3000:]
    assert server_major() == OLD
    assert env_value("POSTGRES_IMAGE") == f"local/postgres:{OLD}"
    assert data_checksums() == before
    assert site_ok()


def test_bad_targets_are_refused_before_anything_changes():
    for target, words in (
        ("eighteen", "postgres_target must be a PostgreSQL major"),
        ("16", "cannot be downgraded"),
    ):
        refused = playbook("upgrade-postgres", {"postgres_target": target})
        assert refused.returncode != 0, target
        assert words in flat(output_of(refused)), output_of(refused)[-3000:]
    same = playbook("upgrade-postgres", {"postgres_target": OLD})
    assert same.returncode == 0, output_of(same)[-3000:]
    assert f"is PostgreSQL {OLD} already; nothing to do" in flat(output_of(same)), output_of(same)[-3000:]
    assert server_major() == OLD
    assert not volume_exists(NEW_VOLUME)


def test_a_failed_upgrade_brings_the_old_server_back_with_its_data():
    before = data_checksums()
    failed = playbook("upgrade-postgres", {"postgres_target": NEW, "stack_test_fault": "after_restore"})
    out = flat(output_of(failed))
    assert failed.returncode != 0
    assert "stack_test_fault=after_restore" in out, out[-3000:]
    assert f"PostgreSQL {OLD} serves from its untouched volume {OLD_VOLUME}" in out, out[-3000:]
    assert server_major() == OLD
    assert data_checksums() == before
    assert env_value("POSTGRES_VOLUME") == OLD_VOLUME
    assert env_value("POSTGRES_IMAGE") == f"local/postgres:{OLD}"
    assert not volume_exists(NEW_VOLUME)
    assert host_sh(f"test -e {ROOT}/state/postgres.json", check=False).returncode != 0
    wait_for(site_ok, timeout=60, what="/readyz 200 after the failed upgrade")
    assert get("/").status == 200  # maintenance mode is off again


def test_the_upgrade_keeps_every_row_and_the_old_volume():
    before = data_checksums()
    with Load(rate=40, threads=4) as load:
        time.sleep(3)
        started = time.monotonic()
        result = playbook("upgrade-postgres", {"postgres_target": NEW}, nice=True)
        finished = time.monotonic()
        wait_for(lambda: get("/").status == 200, timeout=60, what="the site after the upgrade")
        time.sleep(3)
    out = output_of(result)
    assert result.returncode == 0, out[-4000:]
    assert server_major() == NEW
    assert data_checksums() == before
    # The sequence goes on where it was.
    assert psql("INSERT INTO upgrade_probe (note) VALUES ('after') RETURNING id;") == str(ROWS + 1)
    psql(f"DELETE FROM upgrade_probe WHERE id > {ROWS};")  # noqa: S608 - a constant

    record = json.loads(host_sh(f"cat {ROOT}/state/postgres.json").stdout)
    assert record["volume"] == NEW_VOLUME and record["image"] == NEW_IMAGE and int(record["major"]) == NEW
    assert record["previous"]["volume"] == OLD_VOLUME and int(record["previous"]["major"]) == OLD
    assert env_value("POSTGRES_VOLUME") == NEW_VOLUME
    # The old server's volume is kept as it was, and the dump taken first is a complete archive.
    assert volume_major(OLD_VOLUME) == str(OLD)
    assert volume_major(NEW_VOLUME) == str(NEW)
    host_sh(f"test -s {record['dump']}")

    # Clients saw the maintenance page (503) while it ran, never a failed connection or another error.
    assert [e for e in load.errors if e[2] != "HTTP 503"] == [], load.summary()
    unavailable = sorted(e[0] for e in load.errors)
    assert unavailable, load.summary()
    assert all(started <= t <= finished for t in unavailable), load.summary()
    record_metric(
        "postgres_upgrade",
        {
            "rows_in_probe_table": ROWS,
            "database_size": psql("SELECT pg_size_pretty(pg_database_size(current_database()));"),
            "dump_bytes": int(host_sh(f"stat -c %s {record['dump']}").stdout),
            "playbook_s": round(finished - started, 1),
            "maintenance_503_s": round(unavailable[-1] - unavailable[0], 1),
            "requests": load.sent,
            "answered_503": len(unavailable),
        },
    )


def test_a_deploy_after_the_upgrade_wants_an_image_of_the_new_major():
    # The release deployed may migrate: only the probe table is compared.
    before = data_checksums()["upgrade_probe"]
    refused = playbook("deploy")
    out = flat(output_of(refused))
    assert refused.returncode != 0
    assert f"pin a PostgreSQL {NEW} image" in out, out[-3000:]
    assert server_major() == NEW
    deployed = playbook("deploy", {"stack_postgres_image": NEW_IMAGE})
    assert deployed.returncode == 0, output_of(deployed)[-4000:]
    assert server_major() == NEW
    assert data_checksums()["upgrade_probe"] == before
    wait_for(site_ok, timeout=60, what="/readyz 200 after the deploy")
