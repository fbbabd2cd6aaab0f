"""Property tests: whatever bytes arrive, the pipeline yields outputs and never raises."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import load_config
from streams.keys.ring import development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline

CONFIG = load_config(None)
PIPELINE = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))
SOURCE = Source("events.ingest", 0, 0)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
segment_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "identify", "bogus"])},
    optional={
        "context": st.dictionaries(st.sampled_from(["ip", "traits", "locale"]), json_values, max_size=3),
        "userId": json_values,
        "traits": json_values,
    },
)
payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    segment_like.map(orjson.dumps),
    st.lists(segment_like | json_values, max_size=4).map(lambda items: orjson.dumps({"batch": items})),
)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_every_payload_yields_at_least_one_output_and_none_vanish(raw: bytes) -> None:
    results = PIPELINE.process(raw, SOURCE)
    assert results
    for result in results:
        assert result.outputs
        if result.error is not None:
            assert [o.outcome for o in result.outputs] == [Outcome.DEAD_LETTERED]
        elif result.decision is not None and result.decision.region is None:
            assert [o.outcome for o in result.outputs] == [Outcome.QUARANTINED]
