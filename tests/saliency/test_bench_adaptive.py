"""`saliency bench adaptive`: its summaries on hand-made rows, and a small run of the command."""
from __future__ import annotations

import json

import pytest

from saliency.bench import adaptive as a
from saliency.bench import tiny_cache


def _row(image: str, setting: str, queries: int, stability: float, agreement: float, **scores) -> dict:
    base = {"dataset": "planted", "image": image, "setting": setting, "queries": queries, "seconds": 1.0,
            "stopped": "target" if setting.startswith("adaptive") else "budget", "stability": stability,
            "agreement": agreement, "pointing": 1.0, "energy": 0.5, "deletion": 0.1, "insertion": 0.9}
    return base | scores


def test_summary_paired_differences_and_calibration():
    rows = [_row(f"i{i}", "fixed 4000", 4000, 0.9 + i / 100, 0.8 + i / 100) for i in range(5)]
    rows += [_row(f"i{i}", "adaptive 0.9", 500 * (i + 1), 0.9, 0.8 + i / 100, energy=0.5 + i / 100) for i in range(5)]
    summary = {r["setting"]: r for r in a.aggregate(rows)}
    assert summary["adaptive 0.9"]["queries_median"] == 1500 and summary["adaptive 0.9"]["reached"] == 5
    assert summary["adaptive 0.9"]["queries_p90"] == pytest.approx(2300)
    pair = a.paired(rows)[0]
    assert pair["setting"] == "adaptive 0.9" and pair["agreement"] == pytest.approx(0)
    assert pair["energy"] == pytest.approx(0.02) and pair["queries"] == -2500
    calib = {c["setting"]: c for c in a.calibration(rows)}
    assert calib["fixed 4000"]["spearman"] == pytest.approx(1.0)
    assert calib["pooled fixed"]["n"] == 5


def test_cli_small_run_writes_json_and_plot(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from saliency_cli.main import main

    monkeypatch.setattr(tiny_cache, "cached_tiny", lambda **kw: (tiny, 0.99))
    out = tmp_path / "adaptive.json"
    assert main(["bench", "adaptive", "--datasets", "planted", "--images", "3", "--budgets", "100,200",
                 "--targets", "0.5", "--max-queries", "300", "--round-queries", "100", "--reference", "400",
                 "--params", '{"chains": 20, "grid": 4}', "--json", str(out)]) == 0
    assert "adaptive 0.5" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert len(report["rows"]) == 9 and {r["setting"] for r in report["rows"]} == {"fixed 100", "fixed 200",
                                                                                  "adaptive 0.5"}
    assert all(r["queries"] <= 300 and 0 <= r["stability"] <= 1 for r in report["rows"])
    assert (tmp_path / "adaptive.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
