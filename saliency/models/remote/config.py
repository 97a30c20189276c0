"""A model served elsewhere, as the models file declares it (an entry with a `url`):

    [models.prod_resnet]
    url = "http://triton:8000/v2/models/resnet50"   # the model's base URL
    protocol = "v2"            # v2 (Open Inference Protocol REST), v2-grpc, v1 (KServe V1 / TF Serving REST)
    input_size = [224, 224]
    layout = "NCHW"            # or NHWC
    datatype = "FP32"          # or UINT8
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    labels = "imagenet.txt"
    output = "probabilities"   # or logits
    headers = { Authorization = "Bearer ${TRITON_TOKEN}" }   # ${VAR}: from the environment

URLs: v2 `http(s)://host:port/v2/models/NAME`, v1 `http(s)://host:port/v1/models/NAME`, v2-grpc
`grpc://host:port/NAME` (`grpcs://` for TLS). `version` picks a model version.

What the endpoint is fed: FP32 with `scale = "normalized"` (the default) gets (pixel/255 - mean)/std;
`scale = "unit"` pixel/255; `scale = "pixels"` pixel values 0..255; UINT8 pixel values. Methods
always work in the normalised space of `mean`/`std`, so there those only say which colour a
masked pixel takes, and default to ImageNet's.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from saliency.errors import ModelUnavailable

if TYPE_CHECKING:
    from saliency.models.spec import ModelSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATHS = {"v2": re.compile(r"^(?P<root>.*)/v2/models/(?P<name>[^/]+)(/versions/(?P<version>[^/]+))?/?$"),
          "v1": re.compile(r"^(?P<root>.*)/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>[^/:]+))?/?$"),
          "v2-grpc": re.compile(r"^(?P<root>)/(?P<name>[^/]+)(/versions/(?P<version>[^/]+))?/?$")}
_SCHEMES = {"v2": ("http", "https"), "v1": ("http", "https"), "v2-grpc": ("grpc", "grpcs")}


class RemoteEntry(BaseModel):
    """The keys of a remote model's entry; `gradients` is accepted only as false."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="the model's base URL (see the module docstring)")
    protocol: Literal["v2", "v2-grpc", "v1"] = "v2"
    input_size: tuple[int, int]
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    datatype: Literal["FP32", "UINT8"] = "FP32"
    scale: Literal["normalized", "unit", "pixels"] | None = Field(
        None, description="what an FP32 input holds; default normalized (UINT8 inputs are pixels)")
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    labels: Path
    output: Literal["logits", "probabilities"] = "logits"
    description: str = ""
    gradients: Literal[False] = Field(False, description="a remote model answers probabilities only")
    input_name: str | None = Field(None, description="default: the model metadata's only input")
    output_name: str | None = Field(None, description="default: the model metadata's only output")
    version: str | None = Field(None, description="model version; default the server's choice")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers; ${VAR} "
                                    "is read from the environment, so secrets stay out of the file")
    binary: bool = Field(True, description="v2 REST: binary tensors (extension); false: JSON")
    max_batch: int = Field(64, ge=1, le=4096, description="most images in one request")
    max_request_bytes: int = Field(64 << 20, ge=1, description="most tensor bytes in one request")
    in_flight: int = Field(4, ge=1, le=64, description="requests in flight at once")
    max_queries_per_s: float | None = Field(None, gt=0, description="images per second sent, per worker")
    timeout: float = Field(30.0, gt=0, description="seconds one request may take")
    connect_timeout: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0, le=10, description="retries of a connect error, 429, 502, 503, 504, "
                                                     "timeout or gRPC UNAVAILABLE")
    backoff: float = Field(0.2, ge=0, le=30, description="seconds before the first retry, doubled after each")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in the URL (it is shown and logged); "
                             "send them as a header, e.g. headers = { Authorization = \"Bearer ${TOKEN}\" }")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> "RemoteEntry":
        parts = urlsplit(self.url)
        if parts.scheme not in _SCHEMES[self.protocol] or not parts.hostname:
            raise ValueError(f"url: protocol {self.protocol} needs a {' or '.join(_SCHEMES[self.protocol])} URL "
                             f"with a host, got {self.url!r}")
        if not _PATHS[self.protocol].match(parts.path):
            shape = {"v2": "/v2/models/NAME", "v1": "/v1/models/NAME", "v2-grpc": "/NAME"}[self.protocol]
            raise ValueError(f"url: a {self.protocol} URL's path is {shape}, got {parts.path!r}")
        if self.datatype == "UINT8" and self.scale not in (None, "pixels"):
            raise ValueError("scale: UINT8 inputs are pixel values; drop `scale`")
        per_image = 3 * self.input_size[0] * self.input_size[1] * (1 if self.datatype == "UINT8" else 4)
        if per_image > self.max_request_bytes:
            raise ValueError(f"max_request_bytes: one image is {per_image} bytes, more than {self.max_request_bytes}")
        normalized = self.datatype == "FP32" and self.scale in (None, "normalized")
        if normalized and (self.mean is None or self.std is None):
            raise ValueError("mean and std: an FP32 endpoint fed normalised images needs them; "
                             "or say scale = \"unit\" or \"pixels\" when the model normalises itself")
        return self


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one remote model: everything but the secrets' values."""

    model: str  # the registry name
    url: str
    protocol: str
    served_name: str  # the model's name on the server
    version: str | None
    layout: str
    datatype: str
    scale: str  # normalized, unit or pixels
    input_size: tuple[int, int]
    output: str
    input_name: str | None
    output_name: str | None
    header_templates: tuple[tuple[str, str], ...]
    binary: bool
    max_batch: int
    max_request_bytes: int
    in_flight: int
    max_queries_per_s: float | None
    timeout: float
    connect_timeout: float
    retries: int
    backoff: float

    @property
    def host(self) -> str:
        """host:port, what GET /models and error messages show."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    @property
    def where(self) -> str:
        """The URL without query or fragment: what the audit and messages name."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{self.host}{parts.path}"

    @property
    def root(self) -> str:
        """scheme://host:port and any prefix before /v2 or /v1 (a gateway's route)."""
        parts = urlsplit(self.url)
        match = _PATHS[self.protocol].match(parts.path)
        return f"{parts.scheme}://{parts.netloc}{match['root'] if match else ''}"

    def missing_variables(self) -> list[str]:
        return [v for _, template in self.header_templates for v in _VAR.findall(template) if v not in os.environ]

    def headers(self) -> dict[str, str]:
        """The headers with ${VAR} read from the environment now; never log the result."""
        unset = self.missing_variables()
        if unset:
            raise ModelUnavailable(f"model {self.model!r}: its headers read the environment variable(s) "
                                   f"{', '.join(unset)}, which are not set here")
        return {name: _VAR.sub(lambda m: os.environ[m[1]], template) for name, template in self.header_templates}


def endpoint(name: str, entry: RemoteEntry) -> Endpoint:
    match = _PATHS[entry.protocol].match(urlsplit(entry.url).path)
    assert match is not None  # checked by RemoteEntry
    return Endpoint(
        model=name, url=entry.url, protocol=entry.protocol, served_name=match["name"],
        version=entry.version or match["version"], layout=entry.layout, datatype=entry.datatype,
        scale="pixels" if entry.datatype == "UINT8" else entry.scale or "normalized",
        input_size=entry.input_size, output=entry.output, input_name=entry.input_name,
        output_name=entry.output_name, header_templates=tuple(entry.headers.items()), binary=entry.binary,
        max_batch=entry.max_batch, max_request_bytes=entry.max_request_bytes, in_flight=entry.in_flight,
        max_queries_per_s=entry.max_queries_per_s, timeout=entry.timeout,
        connect_timeout=entry.connect_timeout, retries=entry.retries, backoff=entry.backoff)


def remote_spec(name: str, entry: RemoteEntry, root: Path) -> "ModelSpec":
    """The registry's spec of a remote model: no network to build, labels from the file."""
    from saliency.models.config import read_labels
    from saliency.models.spec import ModelSpec

    where = endpoint(name, entry)
    labels = entry.labels if entry.labels.is_absolute() else root / entry.labels

    def missing() -> str | None:
        if not labels.exists():
            return f"model {name!r}: {labels} does not exist (the models file names it)"
        try:
            where.headers()
        except ModelUnavailable as exc:
            return str(exc)
        return None

    def build() -> None:
        raise ModelUnavailable(f"model {name!r} is served at {where.where}; it has no network to build here")

    return ModelSpec(name=name, build=build, labels=lambda: read_labels(labels), input_size=entry.input_size,
                     mean=entry.mean or IMAGENET_MEAN, std=entry.std or IMAGENET_STD, output=entry.output,
                     gradients=False, description=entry.description or f"{entry.protocol} endpoint at {where.host}",
                     source="remote", missing=missing, remote=where)
