"""KServe V1 and TensorFlow Serving REST: `POST {base}:predict` with `{"instances": [...]}`, one
image per instance (a `{input_name: image}` object when the models file names the input), and
`{"predictions": [...]}` back. JSON only: V1 has no binary tensors. Readiness is `GET {base}`:
KServe answers `{"ready": true}`, TF Serving the state of each model version."""
from __future__ import annotations

from typing import Any

import numpy as np

from saliency.models.remote import rest
from saliency.models.remote.calls import Fault
from saliency.models.remote.metadata import Metadata, Names


class V1Rest(rest.RestProtocol):
    name = api = "v1"

    def ready(self) -> None:
        body = rest.json_of(rest.send(self.http, self.ep, "GET", self.base), "the model status")
        states = [s.get("state") for s in body.get("model_version_status") or []]  # TF Serving
        if body.get("ready") is False or (states and "AVAILABLE" not in states):
            raise Fault(f"the server says model {self.ep.served_name!r} is not ready ({body})", transient=True)

    def metadata(self) -> Metadata | None:
        return None  # V1 has none: the tensor names come from the models file, when it needs them

    def infer(self, batch: np.ndarray, names: Names) -> np.ndarray:
        images = batch.tolist()
        instances = [{names.input: image} for image in images] if self.ep.input_name else images
        answer = rest.send(self.http, self.ep, "POST", f"{self.base}:predict", json={"instances": instances})
        predictions = rest.json_of(answer, "the prediction").get("predictions")
        if not isinstance(predictions, list):
            raise Fault("the answer has no `predictions` list", transient=False)
        if predictions and isinstance(predictions[0], dict):  # TF Serving, several named outputs
            predictions = [_named(p, names.output) for p in predictions]
        try:
            return np.asarray(predictions, dtype=np.float64)
        except (ValueError, TypeError):
            raise Fault("its predictions are not a rectangular array of numbers", transient=False) from None


def _named(prediction: dict[str, Any], output: str | None) -> Any:
    if output is None:
        if len(prediction) != 1:
            raise Fault(f"each prediction has outputs {sorted(prediction)}; declare output_name", transient=False)
        return next(iter(prediction.values()))
    if output not in prediction:
        raise Fault(f"a prediction has no output {output!r} (it has {sorted(prediction)})", transient=False)
    return prediction[output]
