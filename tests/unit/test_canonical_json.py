"""The fast leaf encoding is byte-for-byte RFC 8785 for every event shape the log holds."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.events import AuditEvent, canonical_json

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
values = st.one_of(st.none(), text, st.integers(-(2**53) + 1, 2**53 - 1), st.lists(text, max_size=4))


@settings(max_examples=400)
@given(st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=12), values, max_size=8))
def test_fast_path_equals_rfc8785(value: dict[str, object]) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


@given(text, text, st.lists(text, max_size=5))
def test_event_leaves_are_rfc8785(actor: str, purpose: str, fields: list[str]) -> None:
    event = AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id=actor,
        outcome="ok",
        purpose_text=purpose,
        fields=tuple(fields),
    )
    assert event.leaf_bytes() == bytes(rfc8785.dumps(event.as_leaf_dict()))


def test_control_characters_and_non_ascii_are_encoded_as_jcs_requires() -> None:
    value = {"b": '줄\n바꿈\u0007\u2028"\\', "a": None, "c": ["é"]}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))
    assert canonical_json(value).startswith(b'{"a":null,"b":"')
