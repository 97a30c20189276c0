# Two images from one file; compose builds each by its target:
#   docker build --target api    -t saliency-api .     the HTTP API: no torch, a slim image
#   docker build --target worker -t saliency-worker .  an RQ worker: torch (CUDA build), the models
#
# Dependencies come from the lock files in requirements/ (exact versions, pip --require-hashes).
# The torch==2.14.1 wheel that pip installs on Linux x86_64 is a CUDA build and brings its CUDA
# libraries with it, so a slim Python base is enough for the worker too: the host provides only
# the NVIDIA driver, through the NVIDIA Container Toolkit (compose's GPU reservation, or
# `docker run --gpus`).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv
RUN useradd --create-home --uid 10001 saliency

# --- the API: HTTP only, validates against the catalog the workers publish in Redis -------------
FROM base AS api
ENV SALIENCY_HOST=0.0.0.0
# Dependencies first, from the lock file alone, so code changes do not reinstall them.
COPY requirements/api.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
# The library's torch-free parts (saliency/catalog, errors, images), the core and the API.
COPY pyproject.toml README.md ./
COPY saliency ./saliency
COPY jobs ./jobs
COPY app ./app
RUN pip install --no-deps .
USER saliency
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["python", "-m", "app"]

# --- a worker: torch, the builtin models' weights, users' models mounted at /models ------------
FROM base AS worker
ENV TORCH_HOME=/srv/cache/torch
COPY requirements/worker.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY pyproject.toml README.md ./
COPY saliency ./saliency
COPY jobs ./jobs
COPY app ./app
COPY worker ./worker
COPY saliency_cli ./saliency_cli
COPY client ./client
RUN pip install --no-deps . ./client \
    && mkdir -p /srv/cache/torch /models \
    && chown -R saliency /srv/cache
USER saliency
# User models: mount a directory with models.toml at /models and set
# SALIENCY_MODELS_FILE=/models/models.toml (see the README, "Adding a model").
CMD ["python", "-m", "worker"]
