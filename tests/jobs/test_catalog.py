"""The model catalog: what workers publish and how the API reads it (jobs.catalog), on Redis."""
import pytest

from jobs.catalog import Catalog, merge, publish
from saliency.catalog.models import ModelInfo, labels_digest
from saliency.errors import ModelUnavailable, UnknownModel

LABELS = ["square", "cross", "ring", "empty"]


def info(name: str, available: bool = True, reason: str | None = None, gradients: bool = True) -> ModelInfo:
    return ModelInfo(name=name, source="config", input_size=(32, 32), classes=4, gradients=gradients,
                     methods=["oise", "rise"], available=available, unavailable_reason=reason,
                     labels_sha256=labels_digest(LABELS))


def test_merge_prefers_a_runnable_entry_then_the_newest() -> None:
    old_up, new_down = info("m"), info("m", available=False, reason="file gone")
    assert merge([[old_up], [new_down]])["m"].available  # runnable somewhere: runnable
    assert merge([[info("m", False, "a")], [info("m", False, "b")]])["m"].unavailable_reason == "b"
    assert set(merge([[info("a")], [info("b")]])) == {"a", "b"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_live_workers_are_read_and_a_silent_service_keeps_its_newest_catalog(redis, settings) -> None:
    clock = Clock(1_000_000.0)
    refresh = settings.catalog_refresh
    publish(redis, settings, "w-old", [info("old")], {labels_digest(LABELS): LABELS}, now=clock.now - 10 * refresh)
    publish(redis, settings, "w-new", [info("new")], {labels_digest(LABELS): LABELS}, now=clock.now)
    catalog = Catalog(redis, settings, clock=clock)
    assert set(catalog.models()) == {"new"}  # the old worker stopped publishing: not live
    clock.now += 10 * refresh  # every worker silent (restarting): the newest catalog stands in
    catalog = Catalog(redis, settings, clock=clock)
    assert set(catalog.models()) == {"new"}
    clock.now += settings.catalog_ttl + 1  # and past the TTL nothing is left
    assert Catalog(redis, settings, clock=clock).models() == {}


def test_lookups_say_what_is_wrong(redis, settings) -> None:
    publish(redis, settings, "w", [info("tiny"), info("gone", False, "gone.pt does not exist")],
            {labels_digest(LABELS): LABELS})
    catalog = Catalog(redis, settings)
    assert catalog.get("tiny").name == "tiny"
    assert catalog.labels(catalog.get("tiny")) == LABELS
    with pytest.raises(UnknownModel, match="did you mean 'tiny'"):
        catalog.get("tinny")
    with pytest.raises(ModelUnavailable, match="gone.pt does not exist") as err:
        catalog.get("gone")
    assert err.value.field == "model"


def test_an_empty_catalog_says_to_start_a_worker(redis, settings) -> None:
    with pytest.raises(UnknownModel, match="no worker has published"):
        Catalog(redis, settings).get("tiny")


def test_the_catalog_is_cached_between_reads(redis, settings) -> None:
    clock = Clock(2_000_000.0)
    publish(redis, settings, "w", [info("a")], {}, now=clock.now)
    catalog = Catalog(redis, settings, clock=clock)
    assert set(catalog.models()) == {"a"}
    publish(redis, settings, "w", [info("a"), info("b")], {}, now=clock.now)
    assert set(catalog.models()) == {"a"}  # within the cache period: no Redis read
    clock.now += 5
    assert set(catalog.models()) == {"a", "b"}
