"""The engine's batching, hold, abort and commit logic, driven with in-memory clients (no broker).

Each test runs `GatewayEngine.run` in the test's own thread on the real pipeline; the fake
consumer stops the run when it is asked to wait with nothing left to give. What the same
logic does against a real broker (transactions, fencing, kill -9) the integration tests
and the fault runs prove.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.audit import audit_entries
from streams.config import GatewayConfig, load_config
from streams.kafka.clients import KafkaClients, consumer_settings, producer_settings, transactional_id
from streams.kafka.engine import DeliveryFailed, GatewayEngine
from streams.keys.ring import KeyRing, development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline
from tests.unit.kafka.fake_kafka import FakeConsumer, FakeProducer, FakeRecord

CONFIG = load_config(None)
INGEST = CONFIG.topics.ingest[0]
KEYS = development_keys(CONFIG.key_regions())
EU_HOME = CONFIG.regions["eu"].topic
EXPORTED = CONFIG.destinations["global"].topic


@pytest.fixture(autouse=True)
def _leave_the_test_process_garbage_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.kafka.engine._gc_settled", True)


def eu_event(number: int) -> bytes:
    return orjson.dumps({"type": "track", "event": f"Event {number}", "userId": f"user-{number}",
                         "context": {"ip": "81.2.69.142"}})  # fmt: skip


def records(count: int, first: int = 0) -> list[FakeRecord]:
    return [FakeRecord(INGEST, 0, offset, eu_event(offset)) for offset in range(first, first + count)]


class Harness:
    """One engine with fake clients; `run()` processes until the consumer runs dry."""

    def __init__(
        self,
        arrived: list[FakeRecord],
        *,
        pipeline: Pipeline | None = None,
        config: GatewayConfig = CONFIG,
        on_wait: Callable[[FakeConsumer], None] | None = None,
        batch_size: int = 500,
        commit_failures: tuple[Exception, ...] = (),
        unacknowledged: int = 0,
        max_batch_seconds: float | None = None,
    ) -> None:
        self.commit_failures = commit_failures  # raised by the producer's next commits, one each
        self.unacknowledged = unacknowledged  # what its flushes report still queued
        self.stop = threading.Event()
        self.waits = 0
        self.extra_wait = on_wait
        self.consumer = FakeConsumer(arrived, self._waited)
        self.producers: list[FakeProducer] = []
        self.pipeline = pipeline or Pipeline(config, KEYS)
        kafka = config.kafka
        self.engine = GatewayEngine(
            self.pipeline,
            consumer_settings(kafka, "fake:9092"),
            producer_settings(kafka, "fake:9092", transactional_id(kafka, "w1")),
            [INGEST],
            batch_size=batch_size,
            poll_timeout=1.0,
            key_wait_pause=0.0,
            clients=KafkaClients(lambda _settings: self.consumer, self._producer),
            max_batch_seconds=max_batch_seconds,
        )

    def _producer(self, settings: dict[str, object]) -> FakeProducer:
        producer = FakeProducer(dict(settings))
        producer.commit_failures.extend(self.commit_failures)
        producer.unacknowledged = self.unacknowledged
        self.producers.append(producer)
        return producer

    def _waited(self, consumer: FakeConsumer) -> None:
        self.waits += 1
        if self.extra_wait is not None:
            hook, self.extra_wait = self.extra_wait, None  # once; the next wait with nothing ends the run
            hook(consumer)
        else:
            self.stop.set()

    def run(self) -> None:
        self.engine.run(self.stop)

    @property
    def producer(self) -> FakeProducer:
        [producer] = self.producers
        return producer

    def written_topics(self) -> Counter[str]:
        return Counter(topic for topic, _value, _key in self.producer.written)

    def audited(self) -> list[int]:
        """The source offsets the audit records' entries name, in the order they were written."""
        entries = [
            entry
            for topic, value, _key in self.producer.written
            if topic == CONFIG.topics.audit
            for entry in audit_entries(value)
        ]
        return [entry["source"]["offset"] for entry in entries]


def test_a_batch_is_what_has_arrived_and_nothing_waits_for_a_batch_to_fill() -> None:
    harness = Harness(records(3))
    harness.run()
    # The first call takes what is there without waiting; a wait comes only once nothing is left.
    assert harness.consumer.consumed[0] == (500, 0)
    assert harness.consumer.consumed[1:] == [(500, 0), (1, 1.0)]
    assert harness.producer.calls == ["init", "begin", "commit"]  # the three events, one transaction
    assert harness.producer.committed_offsets == {(INGEST, 0): 3}
    # One audit record for the batch's one partition, listing the three events.
    assert harness.written_topics() == {EU_HOME: 3, EXPORTED: 3, CONFIG.topics.audit: 1}
    assert harness.audited() == [0, 1, 2]
    stats = harness.engine.stats
    assert (stats.records_in, stats.batches, stats.events_out) == (3, 1, 6)
    assert (stats.audit_records, stats.audited_events) == (1, 3)


def test_after_a_wait_the_batch_is_the_first_record_and_whatever_else_arrived_by_then() -> None:
    harness = Harness([], on_wait=lambda consumer: consumer.arrived.extend(records(4)))
    harness.run()
    assert harness.consumer.consumed[:3] == [(500, 0), (1, 1.0), (499, 0)]
    assert harness.producer.calls == ["init", "begin", "commit"]  # one batch of all four
    assert harness.engine.stats.batches == 1 and harness.producer.committed_offsets == {(INGEST, 0): 4}


def test_a_batch_past_its_time_closes_and_the_next_one_starts_where_it_stopped() -> None:
    # With no time at all, a batch closes at its first look at the clock, after 16 records. The
    # next batch starts with the records it didn't reach, already fetched: nothing is read twice.
    harness = Harness(records(40), max_batch_seconds=0.0)
    harness.run()
    stats = harness.engine.stats
    assert harness.producer.calls == ["init", *["begin", "commit"] * 3]
    assert harness.consumer.seeks == []
    assert harness.consumer.consumed[0] == (500, 0) and len(harness.consumer.consumed) >= 2
    assert harness.producer.committed_offsets == {(INGEST, 0): 40}
    assert harness.written_topics() == {EU_HOME: 40, EXPORTED: 40, CONFIG.topics.audit: 3}  # one a batch
    assert harness.audited() == list(range(40))  # every event audited once
    assert (stats.records_in, stats.batches, stats.batches_closed_by_time) == (40, 3, 2)


def test_what_a_batch_left_goes_back_to_be_read_again_after_a_rebalance() -> None:
    harness = Harness(records(40), max_batch_seconds=0.0)
    commit = harness.engine._commit

    def commit_then_rebalance(*args: object) -> None:
        commit(*args)  # type: ignore[arg-type]
        if harness.engine.stats.batches == 0:
            harness.consumer.before_next_consume = harness.consumer.rebalance  # served inside it

    harness.engine._commit = commit_then_rebalance  # type: ignore[method-assign]
    harness.run()
    # The first batch ran 16 and left 24; the second (all 24, no consume) ran 16 and left 8; the
    # third's consume served the rebalance, so those 8 went back to be read again, not run under
    # a stale assignment.
    assert harness.consumer.seeks == [(INGEST, 0, 32)]
    assert harness.written_topics()[EU_HOME] == harness.written_topics()[EXPORTED] == 40  # once each
    assert harness.audited() == list(range(40))
    assert harness.producer.committed_offsets == {(INGEST, 0): 40} and harness.engine.stats.records_in == 40


def test_batch_size_stays_the_most_a_batch_takes_whatever_the_pace() -> None:
    harness = Harness(records(40), batch_size=1, max_batch_seconds=1.0)
    harness.run()
    assert max(count for count, _timeout in harness.consumer.consumed) == 1
    assert harness.engine.stats.batches == 40 and harness.producer.committed_offsets == {(INGEST, 0): 40}


def test_a_batch_within_its_time_runs_to_its_last_record() -> None:
    harness = Harness(records(40), max_batch_seconds=60.0)
    harness.run()
    assert harness.producer.calls == ["init", "begin", "commit"] and harness.consumer.seeks == []
    assert (harness.engine.stats.records_in, harness.engine.stats.batches_closed_by_time) == (40, 0)


def test_a_rebalance_between_the_two_consumes_puts_the_batch_back_to_run_once() -> None:
    def arrive_then_rebalance(consumer: FakeConsumer) -> None:
        consumer.arrived.extend(records(2))
        # Served inside the next consume call, as librdkafka serves a rebalance.
        consumer.before_next_consume = consumer.rebalance

    harness = Harness([], on_wait=arrive_then_rebalance)
    harness.run()
    # The first record was taken before the rebalance: put back, never run in a stale batch.
    assert harness.consumer.seeks == [(INGEST, 0, 0)]
    assert harness.written_topics()[EU_HOME] == 2  # each event once
    assert harness.producer.committed_offsets == {(INGEST, 0): 2}
    assert harness.engine.stats.records_in == 2


def test_a_missing_key_holds_the_batch_uncommitted_and_rewound_until_the_key_is_back() -> None:
    without_eu = KeyRing([KEYS.for_region(r) for r in KEYS.regions() if r != "eu"])
    pipeline = Pipeline(CONFIG, without_eu)
    harness = Harness(records(2), pipeline=pipeline)
    seen_while_held: list[int] = []
    rewind = harness.consumer.seek

    def seek_and_maybe_get_the_key_back(partition: object) -> None:
        rewind(partition)  # type: ignore[arg-type]
        seen_while_held.append(len(harness.producer.written))
        if len(harness.consumer.seeks) == 2:
            pipeline.set_keys(KEYS)  # the key provider answers again

    harness.consumer.seek = seek_and_maybe_get_the_key_back  # type: ignore[method-assign]
    harness.run()
    stats = harness.engine.stats
    assert harness.consumer.seeks == [(INGEST, 0, 0), (INGEST, 0, 0)]
    assert seen_while_held == [0, 0]  # nothing written, in the clear or at all, while held
    assert harness.producer.calls == ["init", "begin", "abort", "begin", "abort", "begin", "commit"]
    assert stats.key_waits == 2 and stats.keys_unavailable_since is None
    assert harness.written_topics() == {EU_HOME: 2, EXPORTED: 2, CONFIG.topics.audit: 1}
    assert harness.audited() == [0, 1]
    assert stats.records_in == 2 and harness.producer.committed_offsets == {(INGEST, 0): 2}


def test_an_aborted_transaction_runs_the_batch_again_and_counts_it_once() -> None:
    broken = KafkaException(KafkaError(KafkaError._STATE, "coordinator moved", txn_requires_abort=True))
    harness = Harness(records(3), commit_failures=(broken,))
    harness.run()
    stats = harness.engine.stats
    assert harness.producer.calls == ["init", "begin", "commit", "abort", "begin", "commit"]
    assert harness.consumer.seeks == [(INGEST, 0, 0)]
    assert harness.written_topics() == {EU_HOME: 3, EXPORTED: 3, CONFIG.topics.audit: 1}  # once each
    assert harness.audited() == [0, 1, 2]
    assert (stats.aborted_transactions, stats.batches, stats.records_in, stats.audited_events) == (1, 1, 3, 3)


def test_a_fatal_transaction_error_stops_the_engine_with_nothing_committed() -> None:
    fenced = KafkaException(KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True))
    harness = Harness(records(1), commit_failures=(fenced,))
    with pytest.raises(KafkaException):
        harness.run()
    assert harness.producer.committed_offsets == {} and harness.producer.written == []
    assert harness.engine.stats.records_in == 0 and harness.consumer.closed


@pytest.fixture
def at_least_once() -> GatewayConfig:
    return CONFIG.model_copy(update={"kafka": CONFIG.kafka.model_copy(update={"delivery": "at_least_once"})})


def test_at_least_once_commits_no_offset_before_every_output_is_acknowledged(
    at_least_once: GatewayConfig,
) -> None:
    harness = Harness(records(2), config=at_least_once, unacknowledged=1)
    assert "transactional.id" not in harness.engine._producer_settings
    with pytest.raises(DeliveryFailed, match="1 still queued"):
        harness.run()
    assert harness.consumer.committed == {} and harness.engine.stats.records_in == 0


def test_at_least_once_commits_the_offsets_once_every_output_is_acknowledged(
    at_least_once: GatewayConfig,
) -> None:
    harness = Harness(records(2), config=at_least_once)
    harness.run()
    assert harness.consumer.committed == {(INGEST, 0): 2}
    assert harness.written_topics() == {EU_HOME: 2, EXPORTED: 2, CONFIG.topics.audit: 1}
    assert harness.audited() == [0, 1]
    assert "begin" not in harness.producer.calls


def test_what_was_held_and_how_fields_were_transformed_is_counted_from_typed_results() -> None:
    arrived = [
        FakeRecord(INGEST, 0, 0, eu_event(0)),
        FakeRecord(INGEST, 0, 1, orjson.dumps({"type": "track", "event": "x", "anonymousId": "a"})),
        FakeRecord(INGEST, 0, 2, b"{not json"),
        FakeRecord(INGEST, 0, 3, None),  # a tombstone is an input too
    ]
    harness = Harness(arrived)
    harness.run()
    stats = harness.engine.stats
    assert stats.held_reasons == {("quarantined", "no-signal"): 1, ("dead-lettered", "decode"): 2}
    [eu] = harness.pipeline.process(eu_event(0), Source(INGEST, 0, 0))
    assert stats.transformed_fields == Counter(eu.transforms) and stats.transformed_fields
    assert stats.outcomes.by_topic == {
        (Outcome.ROUTED, EU_HOME): 1,
        (Outcome.EXPORTED, EXPORTED): 1,
        (Outcome.QUARANTINED, CONFIG.topics.quarantine): 1,
        (Outcome.DEAD_LETTERED, CONFIG.topics.dead_letter): 2,
    }
    assert (stats.records_in, stats.audited_events, stats.events_out) == (4, 4, 5)
    assert harness.audited() == [0, 1, 2, 3]
