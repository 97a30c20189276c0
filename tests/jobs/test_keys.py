"""Every key family builds under the prefix and parses back; foreign keys are refused."""
import pytest

from jobs.keys import FAMILIES, ForeignKey, Keys

K = Keys("svc")


@pytest.mark.parametrize("key, family, parts", [
    (K.upload("ab12"), "upload", ["ab12"]),
    (K.index("alice"), "index", ["alice"]),
    (K.index("alice", model="tiny"), "index", ["alice", "model", "tiny"]),
    (K.index("", method="oise"), "index", ["", "method", "oise"]),  # auth off: the empty owner
    (K.idempotency("bob", "f" * 64), "idem", ["bob", "f" * 64]),
    (K.webhooks_due(), "webhooks", ["due"]),
    (K.catalogs(), "catalogs", []),
    (K.predict_reply("r1"), "predict", ["r1", "reply"]),
])
def test_keys_parse_back(key: str, family: str, parts: list[str]) -> None:
    assert key.startswith("svc:")
    assert K.parse(key) == (family, parts)
    assert K.parse(key.encode()) == (family, parts)


def test_the_index_picks_the_narrowest_filter() -> None:
    assert K.index("a", model="m", method="x") == K.index("a", model="m")


@pytest.mark.parametrize("key", ["rq:job:ab12", "other:upload:ab12", "svc:nonsense:1", "svcupload:1"])
def test_foreign_keys_are_refused(key: str) -> None:
    with pytest.raises(ForeignKey):
        K.parse(key)


def test_every_family_has_a_builder_used_by_its_module() -> None:
    built = {K.parse(getattr(K, name)(*(["x"] * n)))[0] for name, n in [
        ("upload", 1), ("result", 1), ("cancel", 1), ("job", 1), ("index", 1), ("batch", 1),
        ("idempotency", 2), ("rate", 1), ("webhooks_due", 0), ("webhook", 1), ("source", 1),
        ("recons", 1), ("recon", 1), ("catalog", 1), ("catalogs", 0), ("labels", 1), ("predict_image", 1)]}
    assert built == set(FAMILIES)
