"""The benchmark page's hand-written text cites only figures the bench produces (no Docker, milliseconds).

bench/page.md and bench/decisions.md name figures as `{name}`; bench/report.py fills them in from a run and
must refuse a name that no figure or table has, rather than print it or drop it.
"""

from __future__ import annotations

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
