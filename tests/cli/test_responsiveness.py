"""`saliency bench responsiveness` reduces its observations to the two figures the issue asks for
(longest wait between progress changes while running; cancel latency). The bench itself measures
a real service and is never run as a test: its figures depend on the machine."""
from __future__ import annotations

from saliency_cli.responsiveness import summarise


def test_the_longest_gap_counts_from_the_start_and_up_to_the_cancel() -> None:
    seen = [(0.1, "queued", 0.0), (1.0, "started", 0.0), (2.5, "started", 0.2), (3.0, "started", 0.4),
            (6.0, "started", 0.6), (6.4, "canceled", 0.6)]
    res = summarise("j", seen, started=1.0, cancel_sent=6.2, canceled=6.4)
    # gaps: start 1.0 -> 2.5, 2.5 -> 3.0, 3.0 -> 6.0, 6.0 -> cancel sent at 6.2
    assert res["longest_progress_gap_s"] == 3.0 and res["progress_changes"] == 3
    assert res["cancel_latency_s"] == 0.2 and res["final_status"] == "canceled"


def test_a_job_that_never_moves_until_it_ends() -> None:
    seen = [(0.2, "started", 0.0), (11.7, "finished", 1.0)]
    res = summarise("j", seen, started=0.2, cancel_sent=None, canceled=None)
    assert res["longest_progress_gap_s"] == 11.5 and res["progress_changes"] == 0
    assert res["cancel_latency_s"] is None
