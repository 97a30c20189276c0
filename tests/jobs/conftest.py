"""The core's tests: pure logic without anything running, and the rest on a real Redis (the
session's redis-server) under a key prefix and queue of each test's own."""
from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image
from redis import Redis

from jobs.settings import Settings


@pytest.fixture
def settings(redis_server) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(_env_file=None, redis_url=redis_server.url, queue=f"core-{tag}", key_prefix=f"core-{tag}")


@pytest.fixture
def redis(redis_server) -> Redis:
    return redis_server.client()


@pytest.fixture
def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()
