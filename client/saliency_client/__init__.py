"""Python client of the saliency HTTP service. Needs httpx and pydantic, not torch: it is a
distribution of its own (client/pyproject.toml), so a pipeline that only calls the service
installs neither torch nor the service."""
from saliency_client.client import DEFAULT_URL, Client
from saliency_client.errors import APIError, ClientError, JobNotFinished, Unreachable, WaitTimeout
from saliency_client.models import Batch, BatchSubmitted, Job, JobPage, Result, Submitted

__all__ = ["DEFAULT_URL", "APIError", "Batch", "BatchSubmitted", "Client", "ClientError", "Job",
           "JobNotFinished", "JobPage", "Result", "Submitted", "Unreachable", "WaitTimeout"]
