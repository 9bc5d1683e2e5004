"""The backup role's restore decision (docs/runtime/lifecycle.md): may a dump go into the serving release?

A dump is refused when its django_migrations table records migrations that the code of the serving release
does not have: the dump was taken after a newer release migrated, and that code would run on a schema it does
not know. A dump that lacks some of the code's migrations is older: it is restored and then migrated forward.

Inputs, as the tasks read them:
- the rows of the dump's django_migrations table, as `pg_restore --data-only --table=django_migrations
  --file=-` writes them (a COPY block; nothing when the dump has no such table);
- the migrations the serving release's code knows, as a JSON list of "app.name" (the role's
  `_backup_code_migrations_probe`, run with `manage.py shell -c` in the serving slot): every migration on
  disk and every one a squashed migration replaces, so a dump that recorded the replaced ones is not taken
  for a newer one.
"""

import json
import re

_COPY = re.compile(r"^COPY \S*django_migrations \((?P<columns>[^)]*)\) FROM stdin;$")


def dump_migrations(copy_text):
    """The "app.name" of every row of the dump's django_migrations COPY block, sorted."""
    rows, columns = [], None
    for line in (copy_text or "").splitlines():
        if columns is None:
            match = _COPY.match(line)
            if match:
                columns = [column.strip() for column in match.group("columns").split(",")]
            continue
        if line == "\\.":
            break
        values = dict(zip(columns, line.split("\t"), strict=False))
        rows.append(f"{values['app']}.{values['name']}")
    return sorted(set(rows))


def restore_schema(copy_text, code_json):
    """What restoring the dump means for the serving release.

    `newer`: migrations the dump records and the code does not have (refuse); `older`: the code's migrations
    the dump lacks (migrate after the restore).
    """
    code = set(json.loads(code_json) if isinstance(code_json, str) else code_json)
    if not code:
        raise ValueError(
            "the serving release reported no migrations: is it a Django release of this project?"
        )
    dump = set(dump_migrations(copy_text))
    return {"newer": sorted(dump - code), "older": sorted(code - dump), "dump_count": len(dump)}


class FilterModule:
    def filters(self):
        return {"restore_schema": restore_schema}
