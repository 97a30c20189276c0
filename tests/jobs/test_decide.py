"""The lost-job decision (jobs.lost.decide) as a pure function; tests/jobs/test_lost.py runs the
same policy on real RQ records."""
import pytest

from jobs.lost import decide


@pytest.mark.parametrize("cancel, ran, lost, action", [
    (True, 0.0, 1, "canceled"),   # a cancel wins over everything
    (True, 99.0, 5, "canceled"),
    (False, 60.0, 1, "failed"),   # past its time limit: never run again
    (False, 10.0, 1, "requeued"),  # first loss within the retries
    (False, 10.0, 2, "failed"),   # lost more often than retried
])
def test_decisions(cancel: bool, ran: float, lost: int, action: str) -> None:
    got, reason = decide(cancel_requested=cancel, ran=ran, timeout=60, lost=lost, retries=1)
    assert got == action
    assert (reason is None) == (action == "requeued")


def test_reasons_say_why() -> None:
    assert "time limit of 60 s" in decide(cancel_requested=False, ran=61, timeout=60, lost=1, retries=3)[1]
    assert "lost 4 times" in decide(cancel_requested=False, ran=1, timeout=60, lost=4, retries=3)[1]
    assert decide(cancel_requested=False, ran=1, timeout=60, lost=1, retries=0)[0] == "failed"
