"""The GET /jobs cursor: opaque, round-trips exactly, and refuses what the API did not issue."""
import pytest

from jobs.errors import BadCursor
from jobs.index import Position


@pytest.mark.parametrize("position", [Position(1767225600.123456, "a" * 32), Position(0.0, "0" * 32),
                                      Position(1e-7, "f" * 32)])
def test_a_cursor_round_trips(position: Position) -> None:
    cursor = position.encode()
    assert "=" not in cursor and ":" not in cursor  # URL-safe without quoting
    assert Position.decode(cursor) == position


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90aGluZw", Position(float("inf"), "a").encode(),
                                    Position(float("nan"), "a").encode(), "MTIzOg"])  # "123:" (no id)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadCursor) as err:
        Position.decode(cursor)
    assert err.value.status == 422 and err.value.field == "cursor"
