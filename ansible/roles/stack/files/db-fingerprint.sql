-- The data of the database as one JSON object: for every table of its own schemas "rows checksum" (an md5 over
-- the md5 of each row's text, in sorted order, so the physical order does not matter), for every sequence
-- "last_value is_called". upgrade-postgres.yml compares the old server's object with the new one's
-- (postgres_fingerprint_diff, plugins/filter/postgres.py). Read-only; run as the superuser.
SELECT coalesce(json_object_agg(name, value ORDER BY name), '{}')
FROM (
  SELECT format('%I.%I', n.nspname, c.relname) AS name,
         (xpath('/row/v/text()', query_to_xml(
           CASE c.relkind
             WHEN 'S' THEN format('SELECT last_value || '' '' || is_called AS v FROM %I.%I', n.nspname, c.relname)
             ELSE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(h, '''' ORDER BY h), '''')) AS v'
                         ' FROM (SELECT md5(t::text) AS h FROM %I.%I AS t) AS rows', n.nspname, c.relname)
           END, false, true, '')))[1]::text AS value
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'S')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%'
    AND n.nspname NOT LIKE 'pg\_temp%'
) AS objects;
