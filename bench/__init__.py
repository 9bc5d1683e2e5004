"""`make bench`: side-by-side performance figures of the stack into docs/benchmarks.md.

bench/run.sh starts the Compose stack and removes everything on exit; `python3 -m bench` (__main__) does the
rest, module by module:

- network: free 127.0.0.1 ports and a free private subnet (also used by tests/stack);
- harness: the containers measured next to the stack (naive setup, bare nginx, the access-log mirror, the
  gunicorn candidates, the load generators) and their targets;
- load: wrk runs, interleaved rounds, errors counted;
- figures: what one run collects (the app image builds too), and the names the pages cite;
- report: the tables and docs/benchmarks.md from bench/page.md and bench/decisions.md;
- deploy: the sandbox deploy figures (bench/deploy.json);
- db_connections: PostgreSQL connections per connection mode, against the local PostgreSQL (by hand).
"""
