"""Which queries the hot paths take whole: anything unusual must go to FastAPI's validation instead."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from hub.api.hot_paths import plain_int, plain_ints, single_keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("7", 7), ("123456789012345678", 123456789012345678), ("01", None), ("-1", None),
     ("+1", None), (" 1", None), ("1.0", None), ("1234567890123456789", None), ("", None), ("١", None)],
)  # fmt: skip
def test_only_plainly_written_non_negative_integers_are_taken(text: str, expected: int | None) -> None:
    assert plain_int(text) == expected


def test_a_query_is_taken_only_with_known_keys_each_once() -> None:
    assert single_keys(QueryParams("limit=2&cursor=x"), ("limit", "cursor")) == {"limit", "cursor"}
    assert single_keys(QueryParams(""), ("limit",)) == set()
    assert single_keys(QueryParams("limit=2&limit=3"), ("limit",)) is None
    assert single_keys(QueryParams("outcome=ok"), ("limit", "cursor")) is None


def test_proof_queries_need_their_required_keys_and_plain_values() -> None:
    required, optional = ("leaf_index",), ("tree_size",)
    assert plain_ints(QueryParams("leaf_index=3"), required, optional) == {"leaf_index": 3}
    assert plain_ints(QueryParams("tree_size=9&leaf_index=3"), required, optional) == {
        "leaf_index": 3,
        "tree_size": 9,
    }
    for query in ("tree_size=9", "leaf_index=x", "leaf_index=3&extra=1", "leaf_index=3&leaf_index=4"):
        assert plain_ints(QueryParams(query), required, optional) is None, query
