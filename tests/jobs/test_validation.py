"""Request validation against a published catalog (jobs.validation): no model file, no torch."""
import pytest

from jobs.catalog import Catalog, publish
from jobs.validation import check_image, check_options
from saliency.catalog.models import ModelInfo, labels_digest
from saliency.errors import InvalidMetrics, InvalidParams, NoGenerator, UnknownClass, UnsupportedMethod
from saliency.images import ImageError

LABELS = ["square", "cross", "ring", "empty"]


@pytest.fixture
def catalog(redis, settings) -> Catalog:
    common = dict(source="config", input_size=(32, 32), classes=4, methods=["oise"],
                  labels_sha256=labels_digest(LABELS))
    publish(redis, settings, "w", [ModelInfo(name="tiny", gradients=True, **common),
                                   ModelInfo(name="boxed", gradients=False, **common),
                                   ModelInfo(name="gen", gradients=True, generator=True, **common)],
            {labels_digest(LABELS): LABELS})
    return Catalog(redis, settings)


def test_defaults_and_names_are_resolved(catalog, settings) -> None:
    options = check_options(catalog, settings.model_copy(update={"default_model": "tiny"}), target="RING",
                            params='{"queries": 50}', metrics="deletion")
    assert (options.model, options.method) == ("tiny", "oise")
    assert options.target == {"index": 2, "label": "ring"}
    assert options.params["queries"] == 50 and options.params["chains"] == 500  # defaults filled in
    assert options.metrics == ["deletion"] and options.reconstruct is None


@pytest.mark.parametrize("fields, error, field", [
    ({"model": "boxed", "method": "gradcam"}, UnsupportedMethod, "method"),
    ({"model": "tiny", "target": "triangle"}, UnknownClass, "target"),
    ({"model": "tiny", "params": "{queries: 5}"}, InvalidParams, "params"),
    ({"model": "tiny", "params": '{"queries": 0}'}, InvalidParams, "params.queries"),
    ({"model": "tiny", "metrics": "pointing"}, InvalidMetrics, "metrics"),
    ({"model": "tiny", "reconstruct": True}, NoGenerator, "reconstruct"),
    ({"model": "gen", "reconstruct": True, "reconstruct_params": '{"hidden": 2}'}, InvalidParams,
     "reconstruct_params.hidden"),
])
def test_each_bad_field_is_named(catalog, settings, fields, error, field) -> None:
    with pytest.raises(error) as err:
        check_options(catalog, settings, **fields)
    assert err.value.field == field and err.value.status == 422


def test_params_that_are_not_json_get_an_example(catalog, settings) -> None:
    with pytest.raises(InvalidParams, match=r'e\.g\. \{"queries": 500'):
        check_options(catalog, settings, model="tiny", params="queries=5")


def test_images_are_checked_and_a_batch_names_the_one_at_fault(png) -> None:
    assert check_image(png, 10_000).width == 8
    with pytest.raises(ImageError, match=r"^images\[1\] \(b.png\): ") as err:
        check_image(b"not an image", 10_000, "images[1] (b.png)")
    assert err.value.status == 415
    with pytest.raises(Exception, match="limit is 10") as err:
        check_image(png, 10)
    assert err.value.status == 413
