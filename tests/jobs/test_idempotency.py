"""Request fingerprints and key claims (jobs.idempotency), on a real Redis."""
import pytest

from jobs.errors import BadIdempotencyKey, IdempotencyConflict
from jobs.idempotency import Idempotency, fingerprint
from jobs.validation import Options

OPTIONS = Options("tiny", "oise", None, {"queries": 100, "seed": 0}, [])


def test_the_same_request_has_the_same_fingerprint_and_any_change_another() -> None:
    one = fingerprint([b"image"], OPTIONS, "explain")
    assert one == fingerprint([b"image"], Options("tiny", "oise", None, {"seed": 0, "queries": 100}, []), "explain")
    others = [fingerprint([b"image2"], OPTIONS, "explain"),
              fingerprint([b"image"], Options("tiny", "oise", None, {"queries": 101, "seed": 0}, []), "explain"),
              fingerprint([b"image"], Options("tiny", "rise", None, OPTIONS.params, []), "explain"),
              fingerprint([b"image"], Options("tiny", "oise", {"index": 1, "label": "x"}, OPTIONS.params, []),
                          "explain"),
              fingerprint([b"image"], OPTIONS.__class__(**{**OPTIONS.__dict__, "callback_url": "https://h/"}),
                          "explain"),
              fingerprint([b"image"], OPTIONS, "batch"),
              fingerprint([b"image", b"image"], OPTIONS, "batch"),
              fingerprint([b"ima", b"ge"], OPTIONS, "batch")]  # image boundaries count
    assert len({one, *others}) == len(others) + 1


def test_claims(redis, settings) -> None:
    once = Idempotency(redis, settings)
    first = once.claim("alice", "k1", "fp", {"job_ids": ["a"], "batch_id": None})
    assert not first.replay and first.ids["job_ids"] == ["a"]
    again = once.claim("alice", "k1", "fp", {"job_ids": ["b"], "batch_id": None})
    assert again.replay and again.ids["job_ids"] == ["a"] and again.answer is None
    once.remember("alice", "k1", "fp", first.ids, {"job_id": "a"})
    assert once.claim("alice", "k1", "fp", {}).answer == {"job_id": "a"}
    assert not once.claim("bob", "k1", "fp", {"job_ids": ["c"]}).replay  # owners never meet
    with pytest.raises(IdempotencyConflict):
        once.claim("alice", "k1", "other request", {})
    once.release("alice", "k1")
    assert not once.claim("alice", "k1", "other request", {"job_ids": ["d"]}).replay
    for bad in ("", " ", "x" * 256):
        with pytest.raises(BadIdempotencyKey):
            once.claim("alice", bad, "fp", {})
