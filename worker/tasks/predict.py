"""The prediction job behind POST /predict: one forward pass, the top classes pushed back to the
waiting API (jobs.predict). Cheap, so every worker takes the predict queue first."""
from __future__ import annotations

import logging

import torch
from rq import get_current_job

from jobs import predict
from jobs.settings import get_settings
from saliency.errors import SaliencyError
from saliency.images import open_image
from saliency.models import load_model

log = logging.getLogger("worker.tasks.predict")


def top_classes(image: bytes, model: str, k: int) -> list[dict[str, object]]:
    net = load_model(model)
    with torch.inference_mode():
        probs = net(net.preprocess(open_image(image)))[0].float()
    top = probs.topk(min(k, probs.numel()))
    return [{"index": int(i), "label": net.labels[int(i)], "score": float(p)}
            for p, i in zip(top.values, top.indices)]


def run_prediction(request_id: str, model: str, k: int = 5) -> None:
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_prediction runs inside an RQ worker")
    settings = get_settings()
    image = predict.take_image(job.connection, settings, request_id)
    if image is None:  # the API gave up waiting: nobody reads an answer
        log.info("predict %s: the request expired before a worker took it", request_id)
        return
    try:
        reply = {"top": top_classes(image, model, k)}
    except SaliencyError as exc:
        reply = predict.error_reply(exc)
    except Exception as exc:  # noqa: BLE001 - the API is waiting: answer it rather than let it time out
        log.exception("predict %s failed", request_id)
        failed = SaliencyError(f"the worker could not classify the picture ({type(exc).__name__}: {exc})")
        reply = predict.error_reply(failed, status=502)
    predict.answer(job.connection, settings, request_id, reply)
