"""Python client of the saliency HTTP service (app/). Needs httpx and pydantic, not torch.

It lives beside `saliency/`, not inside it: importing `saliency.anything` runs
saliency/__init__.py, which loads torch and the models, and a pipeline that only calls the service
should not need those.
"""
from saliency_client.client import DEFAULT_URL, Client
from saliency_client.errors import APIError, ClientError, JobNotFinished, Unreachable, WaitTimeout
from saliency_client.models import Batch, BatchSubmitted, Job, JobPage, Result, Submitted

__all__ = ["DEFAULT_URL", "APIError", "Batch", "BatchSubmitted", "Client", "ClientError", "Job",
           "JobNotFinished", "JobPage", "Result", "Submitted", "Unreachable", "WaitTimeout"]
