"""The composition root makes every Kafka client through the factories it is given (no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from streams.config import GatewayConfig, load_config
from streams.kafka.clients import KafkaClients
from streams.keys.ring import development_keys
from streams.service.wiring import Gateway, build_gateway


class _Made:
    """A stand-in client that remembers its settings; build_gateway only constructs clients."""

    def __init__(self, kind: str, settings: dict[str, Any], made: list[tuple[str, dict[str, Any]]]) -> None:
        made.append((kind, settings))

    def close(self) -> None:
        pass

    def flush(self, timeout: float = 0) -> int:
        return 0


@contextmanager
def _gateway(
    config: GatewayConfig,
) -> Iterator[tuple[Gateway, KafkaClients, list[tuple[str, dict[str, Any]]]]]:
    """build_gateway with stand-in clients; the gateway, its client factories and what they made."""
    made: list[tuple[str, dict[str, Any]]] = []
    clients = KafkaClients(
        lambda settings: _Made("consumer", settings, made),
        lambda settings: _Made("producer", settings, made),
    )
    gateway = build_gateway(
        config, "fake:9092", development_keys(config.key_regions()), worker_id="w1", clients=clients
    )
    try:
        yield gateway, clients, made
    finally:
        gateway.close()


def test_build_gateway_makes_the_subject_stores_clients_and_hands_the_engine_the_same_factories() -> None:
    with _gateway(load_config()) as (gateway, clients, made):
        kinds = sorted(kind for kind, _settings in made)
        assert kinds == ["consumer", "producer"]  # the subject store's; the engine makes its own when it runs
        assert all(settings["bootstrap.servers"] == "fake:9092" for _kind, settings in made)
        assert gateway.engine._clients is clients


def test_fausts_own_topics_take_the_configs_replication_factor() -> None:
    from streams.service.worker import build_app

    base = load_config()
    config = base.model_copy(update={"kafka": base.kafka.model_copy(update={"replication_factor": 3})})
    with _gateway(config) as (gateway, _clients, _made):
        app, _service = build_app(config.kafka.worker_app_id, "fake:9092", gateway.engine, {}, web_port=None)
        assert app.conf.topic_replication_factor == 3
