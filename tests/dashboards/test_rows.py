import pytest

from dashboards.errors import SelectorError
from dashboards.outcomes import prepare_rows
from dashboards.rows import base_selector, select
from tests.dashboards.frames import frame

ROWS = prepare_rows(
    frame(
        {"domain": "identity", "route": "primary", "status": 200},
        {"domain": "identity", "route": "fallback-cache", "status": 200},
        {"domain": "business", "route": "fallback-degraded", "status": 202, "stream": False},
        {"domain": "chat", "route": None, "status": 0, "error_kind": "connect", "stream": True},
    )
)


def test_empty_selector_keeps_all() -> None:
    assert len(select(ROWS, {})) == 4


def test_equality() -> None:
    assert len(select(ROWS, {"domain": "identity"})) == 2


def test_alternatives() -> None:
    assert len(select(ROWS, {"route": "fallback-cache|fallback-degraded"})) == 2


def test_status_as_integer() -> None:
    assert len(select(ROWS, {"status": "202"})) == 1


def test_stream_as_bool() -> None:
    assert select(ROWS, {"stream": "true"})["domain"].tolist() == ["chat"]


def test_null_never_matches() -> None:
    assert len(select(ROWS, {"route": "None"})) == 0


def test_derived_failure_kind_selectable() -> None:
    assert len(select(ROWS, {"failure_kind": "connect"})) == 1


def test_keys_combine_with_and() -> None:
    assert len(select(ROWS, {"domain": "identity", "route": "primary"})) == 1


def test_unknown_column_lists_selectable_ones() -> None:
    with pytest.raises(SelectorError, match=r"selectable columns: .*domain"):
        select(ROWS, {"colour": "red"})


def test_bad_status_value() -> None:
    with pytest.raises(SelectorError, match="integer"):
        select(ROWS, {"status": "ok"})


def test_base_of_mixed_selector_is_request_side() -> None:
    selector = {"domain": "identity", "route": "fallback-cache"}
    assert base_selector(selector) == {"domain": "identity"}


def test_base_of_response_only_selector_is_everything() -> None:
    assert base_selector({"route": "fallback-cache"}) == {}


def test_base_of_request_only_selector_is_everything() -> None:
    assert base_selector({"domain": "chat"}) == {}
