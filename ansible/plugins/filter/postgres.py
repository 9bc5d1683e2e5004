"""The stack role's PostgreSQL major-version decisions (docs/runtime/lifecycle.md, "PostgreSQL major
upgrade").

A data directory is readable only by the server major that wrote it (its PG_VERSION file). So a deploy starts
the pinned image (stack_postgres_image) only on data of the same major (postgres_guard), and the one way to a
newer major is upgrade-postgres.yml (postgres_upgrade_plan): a verified dump, a new volume for the new
server, the dump restored into it, and the data compared table by table (postgres_fingerprint_diff) before the
new server is kept.
"""

import json
import re

# A tag that starts with the major: 17, 17.6, 17-alpine, 17.6-bookworm.
_MAJOR_TAG = re.compile(r"^(?P<major>\d+)(?:\.\d+)*(?P<rest>(?:-.*)?)$")


def postgres_image_major(env):
    """The PostgreSQL major an image holds: PG_MAJOR of its environment (the `Config.Env` list of
    `docker image inspect`; the official images and the local ones set it), 0 when it has none."""
    for item in env or []:
        name, _, value = str(item).partition("=")
        if name == "PG_MAJOR":
            try:
                return int(value.split(".")[0])
            except ValueError:
                return 0
    return 0


def postgres_image_for(image, target):
    """The image of major `target` named like `image`: the tag's leading major replaced (local/postgres:17
    -> local/postgres:18, postgres:17-alpine -> postgres:18-alpine; a minor pin is dropped: 17.6-bookworm ->
    18-bookworm). '' when the tag does not start with a major (latest, a digest, no tag)."""
    image = str(image)
    if "@" in image:
        return ""
    name, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:
        return ""
    match = _MAJOR_TAG.match(tag)
    if not match:
        return ""
    return f"{name}:{int(target)}{match.group('rest')}"


def postgres_target_error(value):
    """'' when `value` (stack_postgres_target, playbook variable postgres_target) is empty or a PostgreSQL
    major (an integer of 10 or more: the version scheme since 10); else the message."""
    text = str(value if value is not None else "").strip()
    if text == "":
        return ""
    try:
        major = int(text)
    except ValueError:
        major = 0
    if major < 10:
        return (
            f"postgres_target must be a PostgreSQL major version such as 18 (got '{value}'); nothing changed."
        )
    return ""


def postgres_guard(data_major, image_major, image, volume):
    """'' when the db service may start `image` (major `image_major`, 0 when unknown or not on the host)
    on the data in `volume` (major `data_major`, 0 when it holds none yet); else why not and what to do."""
    data_major, image_major = int(data_major or 0), int(image_major or 0)
    if data_major == 0 or image_major == data_major:
        return ""
    if image_major == 0:
        return (
            f"stack_postgres_image {image} is not on the host or does not name its PostgreSQL major (no "
            f"PG_MAJOR in its environment), so it cannot be checked against the database in volume "
            f"{volume} (PostgreSQL {data_major}). Use an image built on the official postgres image; "
            f"nothing was changed."
        )
    if image_major > data_major:
        return (
            f"stack_postgres_image {image} is PostgreSQL {image_major}, but the database in volume {volume} "
            f"is PostgreSQL {data_major}: a new major cannot read it, and changing the image is not an "
            f"upgrade. Run `ansible-playbook upgrade-postgres.yml -i ENV -e postgres_target={image_major}` "
            f"(a verified dump, the new server in a new volume, the data compared, the old volume kept), "
            f"or pin a PostgreSQL {data_major} image again. Nothing was changed."
        )
    return (
        f"stack_postgres_image {image} is PostgreSQL {image_major}, but the database in volume {volume} is "
        f"PostgreSQL {data_major} (upgrade-postgres.yml moved it there): pin a PostgreSQL {data_major} image "
        f"(POSTGRES_IMAGE in docker/images/<project_image_list>.env, or stack_postgres_image). To go back to "
        f"{image_major}, restore the dump the upgrade took into a PostgreSQL {image_major} database "
        f"(docs/runtime/lifecycle.md). Nothing was changed."
    )


def postgres_upgrade_plan(target, data_major, image, volume, project, override=""):
    """What upgrade-postgres.yml -e postgres_target=`target` does with the database in `volume` (major
    `data_major`), the pinned image being `image`: {"problem": why it cannot (''), "noop": already there,
    "image": the target's image (`override`, else the pinned image's tag with the target major),
    "volume": the new server's volume}."""
    plan = {"problem": "", "noop": False, "image": "", "volume": ""}
    problem = postgres_target_error(target)
    if problem or str(target).strip() == "":
        plan["problem"] = problem or "Name the major to upgrade to (-e postgres_target=18); nothing changed."
        return plan
    target, data_major = int(target), int(data_major or 0)
    if data_major == 0:
        plan["problem"] = (
            f"The database volume {volume} holds no data yet: there is nothing to upgrade. Pin a PostgreSQL "
            f"{target} image (stack_postgres_image) and deploy; nothing was changed."
        )
        return plan
    if target == data_major:
        plan["noop"] = True
        return plan
    if target < data_major:
        plan["problem"] = (
            f"postgres_target={target} is older than the database's PostgreSQL {data_major}: a data "
            f"directory cannot be downgraded. Restore a dump into a PostgreSQL {target} database instead; "
            f"nothing was changed."
        )
        return plan
    plan["image"] = str(override or "") or postgres_image_for(image, target)
    if not plan["image"]:
        plan["problem"] = (
            f"Cannot tell the PostgreSQL {target} image from stack_postgres_image {image} (its tag does not "
            f"start with the major): set stack_postgres_upgrade_image; nothing was changed."
        )
        return plan
    plan["volume"] = f"{project}_pgdata-{target}"
    if plan["volume"] == volume:
        # The new server starts on an empty volume: this one holds the data.
        plan["problem"] = (
            f"The database volume {volume} holds PostgreSQL {data_major} data but has the name of the "
            f"PostgreSQL {target} volume (state/postgres.json was edited?); nothing was changed."
        )
    return plan


def postgres_fingerprint_diff(before, after):
    """The tables and sequences whose fingerprint (db-fingerprint.sql: rows and checksum, or a sequence's
    value) differs between two JSON objects, as "name: before -> after" lines; [] for the same data."""
    before = json.loads(before) if isinstance(before, str) else dict(before or {})
    after = json.loads(after) if isinstance(after, str) else dict(after or {})
    return [
        f"{name}: {before.get(name, 'missing')} -> {after.get(name, 'missing')}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


class FilterModule:
    def filters(self):
        return {
            "postgres_fingerprint_diff": postgres_fingerprint_diff,
            "postgres_guard": postgres_guard,
            "postgres_image_for": postgres_image_for,
            "postgres_image_major": postgres_image_major,
            "postgres_target_error": postgres_target_error,
            "postgres_upgrade_plan": postgres_upgrade_plan,
        }
