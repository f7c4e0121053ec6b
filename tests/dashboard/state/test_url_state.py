"""The classroom link: every control read back from the URL equals the value written; junk never breaks the page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.state import url_state
from dashboard.state.url_state import LearnState, decode, encode, query_string
from den_engine.data.toy2d import TOY_2D_TASKS

finite = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)
states = st.builds(
    LearnState,
    tasks=st.lists(st.sampled_from(TOY_2D_TASKS), min_size=1, max_size=6, unique=True).map(tuple),
    hidden_sizes=st.lists(st.integers(1, 32), min_size=1, max_size=3).map(tuple),
    expand_units=st.integers(1, 8),
    loss_threshold=finite,
    split_threshold=finite,
    group_lasso=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    iterations=st.integers(20, 2000),
    seed=st.integers(0, 2**31 - 1),
    method=st.sampled_from(url_state.METHODS),
    compare=st.sampled_from(url_state.COMPARE),
    speed=st.sampled_from(url_state.SPEEDS),
    presenter=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(states)
def test_every_field_round_trips_through_the_query_string(state):
    assert decode(encode(state)) == (state, [])
    parsed = parse_qs(urlsplit("http://host/learn" + query_string(state)).query)  # what a browser sends back
    assert decode(parsed) == (state, [])


def test_every_field_is_in_the_link_explicitly():
    params = encode(LearnState())
    assert set(params) == set(url_state.KEYS.values())
    assert params["tasks"] == "blobs,moons,circles,xor" and params["tau"] == "0.15" and params["presenter"] == "0"


def test_a_link_changes_exactly_the_fields_it_names():
    state, warnings = decode({"tasks": "xor,moons", "sigma": "0.2", "presenter": "1", "k": "5"})
    assert warnings == []
    assert state == LearnState(tasks=("xor", "moons"), split_threshold=0.2, presenter=True, expand_units=5)


def test_bad_values_fall_back_to_defaults_with_a_warning_each():
    bad = {"tasks": "moons,moons", "hidden": "0,3", "k": "99", "tau": "nan", "sigma": "abc", "benchmark": "mnist",
           "method": "magic", "speed": "ludicrous", "presenter": "maybe", "iters": "-1", "seed": "x"}  # fmt: skip
    state, warnings = decode(bad)
    assert state == LearnState()
    assert len(warnings) == len(bad)
    assert any(w.startswith("k='99' ignored") and "between 1 and 8" in w for w in warnings)


def test_your_own_task_travels_in_the_link_and_needs_its_points():
    points = "0.10~0.20~0_-0.50~1.00~1_1.20~-1.10~0_0.00~0.00~1"
    state = LearnState(tasks=("moons", "yours"), custom=points)
    back, warnings = decode(parse_qs(urlsplit(query_string(state)).query))
    assert back == state and warnings == []
    lost, warnings = decode({"tasks": "moons,yours"})
    assert lost.tasks == ("moons",) and any("needs the points" in w for w in warnings)
    broken, warnings = decode({"tasks": "moons,yours", "points": "0.1~abc~0"})
    assert broken.custom == "" and any("Row 1, column x2" in w for w in warnings)


def test_bad_values_are_explained_in_plain_words():
    for field, text, words in (("hidden_sizes", "abc", "“abc” is not a list of whole numbers"),
                               ("expand_units", "two", "“two” is not a whole number"),
                               ("loss_threshold", "x", "“x” is not a number")):  # fmt: skip
        try:
            url_state.parse_field(field, text)
        except ValueError as exc:
            assert words in str(exc) and "invalid literal" not in str(exc)
        else:
            raise AssertionError(f"{field}={text!r} was accepted")
