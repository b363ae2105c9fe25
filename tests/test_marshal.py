"""The wire's JSON helpers behave exactly like the stdlib, errors included."""

from __future__ import annotations

import json
import math

import pytest

from pylambda._runtime.marshal import decoder, encoder

DECODE_CASES = [
    '{"a": 1}', ' {"a":1}', '{"a":1} ', "[1,2]", '"x"', "3", "null", "NaN", "-Infinity", "1e400",
    '"\\ud800"', "\n[]\n", "", " ", '{"a":', '{"a":1}x', '{"a": 1} {}', "nul", "[1,]", '{"a" 1}',
]  # fmt: skip


def _outcome(call, arg):
    try:
        value = call(arg)
    except Exception as e:
        return ("error", type(e).__name__, str(e))
    return ("value", repr(value))


@pytest.mark.parametrize("text", DECODE_CASES)
def test_decoder_matches_json_loads(text):
    assert _outcome(decoder(), text) == _outcome(json.loads, text)


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, None, True]}, "é\u2028", [], {}, 10**30, -0.0, {"nested": {"x": ["y"]}}, math.inf],
)
def test_encoder_matches_json_dumps(value):
    assert encoder()(value) == json.dumps(value)


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan])
def test_strict_encoder_fails_like_json_dumps(value):
    with pytest.raises((TypeError, ValueError)) as ours:
        encoder(allow_nan=False)(value)
    with pytest.raises((TypeError, ValueError)) as stdlib:
        json.dumps(value, allow_nan=False)
    assert (type(ours.value), str(ours.value)) == (type(stdlib.value), str(stdlib.value))
