# One image for the API and the workers; the command picks the role:
#   python -m app      the HTTP API (SALIENCY_HOST/SALIENCY_PORT, default 0.0.0.0:8000 here)
#   python -m worker   an RQ worker; uses CUDA when the container sees a GPU, else the CPU
#
# The torch==2.14.1 wheel that pip installs on Linux x86_64 is a CUDA build and brings its CUDA
# libraries with it, so a slim Python base is enough: the host provides only the NVIDIA driver,
# through the NVIDIA Container Toolkit (compose's GPU reservation, or `docker run --gpus`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TORCH_HOME=/srv/cache/torch \
    SALIENCY_HOST=0.0.0.0

WORKDIR /srv

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall torch.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY saliency ./saliency
COPY app ./app
COPY worker ./worker
COPY saliency_client ./saliency_client
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 saliency \
    && mkdir -p /srv/cache/torch /models \
    && chown -R saliency /srv/cache

USER saliency
EXPOSE 8000
# User models: mount a directory with models.toml at /models and set
# SALIENCY_MODELS_FILE=/models/models.toml (see the README, "Adding a model").
CMD ["python", "-m", "app"]
