"""The benchmark page's hand-written text cites only figures the bench produces (no Docker, milliseconds).

bench/page.md and bench/decisions.md name figures as `{name}`; bench/report.py fills them in from a run and
must refuse a name that no figure or table has, rather than print it or drop it.
"""

from __future__ import annotations

import json

import pytest
from bench import report
from bench.figures import NAMED


def test_page_and_decisions_cite_only_existing_figures():
    report.check_citations()
    cited = set(report.cited(report.PAGE.read_text())) | set(report.cited(report.DECISIONS.read_text()))
    assert "dynamic_ratio" in cited
    assert {"dynamic_ratio_log_on", "dynamic_ratio_log_off"} <= cited


def test_a_citation_of_an_unknown_figure_fails_the_render(tmp_path, monkeypatch):
    decisions = tmp_path / "decisions.md"
    decisions.write_text("The ratio was {dynamic_ratio}, the moon {moon_phase}.\n")
    monkeypatch.setattr(report, "DECISIONS", decisions)
    with pytest.raises(report.UnknownFigure, match="moon_phase"):
        report.check_citations()


def test_substitution_fills_names_and_keeps_escaped_braces():
    out = report.substitute("{{literal}} {a} {{b}}", {"a": "1.42x"}, "test")
    assert out == "{literal} 1.42x {b}"
    with pytest.raises(report.UnknownFigure, match="missing_one"):
        report.substitute("{missing_one}", {}, "test")


def test_blocks_and_figures_do_not_share_a_name():
    assert not set(report.BLOCKS) & set(NAMED)


def test_the_swarm_block_renders_the_scenarios_figures(tmp_path, monkeypatch):
    clients = {
        "wrk-get": {"requests": 900, "connection_errors": 0, "non_2xx": 1, "p99_ms": 120.4},
        "h2load": {"requests": 100, "connection_errors": 2, "non_2xx": 0},
    }
    figures = tmp_path / "swarm.json"
    figures.write_text(
        json.dumps(
            {
                "date": "2026-12-07",
                "commit": "abc",
                "rolling_update_seconds": 131.9,
                "rolling_update_clients": clients,
                "rollback_seconds": 61.2,
                "rollback_answers": {"requests": 1200, "failed": 0},
                "restore_seconds": 40.4,
            }
        )
    )
    monkeypatch.setattr(report, "SWARM_FIGURES", figures)
    text = report.swarm_tables({})
    assert "| rolling update to a new release, 3 replicas | 132 | 1,000 | 3 | 120 |" in text
    assert "| `rollback.yml` to the previous release, 3 replicas | 61 | 1,200 | 0 |" in text
    assert "maintenance mode on the edge meanwhile: 40 s." in text
    assert "reschedul" not in text  # absent figures are left out, not shown empty
    assert "Swarm rolls back" not in text
    monkeypatch.setattr(report, "SWARM_FIGURES", tmp_path / "absent.json")
    assert report.swarm_tables({}).startswith("Not measured yet")
