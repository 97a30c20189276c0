"""Request fingerprints and key claims (jobs.idempotency), on a real Redis."""
import pytest

from jobs.errors import BadIdempotencyKey, IdempotencyInProgress, IdempotencyKeyReused
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
    assert first.answer is None and first.ids["job_ids"] == ["a"]  # go ahead and create
    with pytest.raises(IdempotencyInProgress):  # the first has no answer yet: 409, no id
        once.claim("alice", "k1", "fp", {"job_ids": ["b"], "batch_id": None})
    with pytest.raises(IdempotencyKeyReused):  # another request: 422, also while in progress
        once.claim("alice", "k1", "other request", {})
    once.remember("alice", "k1", "fp", first.ids, {"job_id": "a"})
    again = once.claim("alice", "k1", "fp", {"job_ids": ["b"]})
    assert again.answer == {"job_id": "a"} and again.ids["job_ids"] == ["a"]
    assert once.claim("bob", "k1", "fp", {"job_ids": ["c"]}).answer is None  # owners never meet
    with pytest.raises(IdempotencyKeyReused):
        once.claim("alice", "k1", "other request", {})
    once.release("alice", "k1")
    assert once.claim("alice", "k1", "other request", {"job_ids": ["d"]}).answer is None
    for bad in ("", " ", "x" * 256):
        with pytest.raises(BadIdempotencyKey):
            once.claim("alice", bad, "fp", {})
