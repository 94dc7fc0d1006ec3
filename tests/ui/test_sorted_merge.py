"""Merging batches into a kept sorted order gives exactly a whole stable sort (property-style,
random keys with many ties, both directions), with its columns kept in step."""

from __future__ import annotations

import random
from array import array

import pytest

from cwsandbox_tui.ui.widgets.sorted_merge import SortedIds


def column_of(values: dict[str, float]):  # type: ignore[no-untyped-def]
    def column(name: str, ids: list[str]) -> array[float] | list[str]:
        if name == "text":
            return [f"text of {i}" for i in ids]
        return array("d", [values[i] for i in ids])
    return column


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_merging_batches_equals_a_whole_sort(seed: int, reverse: bool) -> None:
    rng = random.Random(seed)
    count = rng.randrange(0, 400)
    spread = rng.choice([1, 3, 20, 10_000])  # from all ties to almost none
    keys: dict[str, object] = {}
    numbers: dict[str, float] = {}
    use_text_keys = rng.random() < 0.3
    mixed = rng.random() < 0.3
    for n in range(count):
        row_id = f"r{rng.randrange(10**9)}-{n}"
        keys[row_id] = f"k{rng.randrange(spread):05d}" if use_text_keys else float(
            rng.randrange(spread))
        if mixed and not use_text_keys and rng.random() < 0.05:
            keys[row_id] = rng.randrange(spread)  # an int among floats: kept as objects
        numbers[row_id] = rng.random()
    arrival = list(keys)
    column = column_of(numbers)
    first = rng.randrange(0, count + 1)
    merged = SortedIds.sort(arrival[:first], keys.__getitem__, reverse, ("text", "n"), column)
    at = first
    while at < count:
        size = rng.choice([1, 2, 7, 50, 300])
        merged.merge(arrival[at:at + size], keys.__getitem__, column)
        at += size
        want = sorted(arrival[:at], key=keys.__getitem__, reverse=reverse)
        assert merged.display() == want
        assert list(merged.keys) == [keys[i] for i in merged.ids]
        assert merged.display_column("text") == [f"text of {i}" for i in want]
        assert list(merged.display_column("n")) == [numbers[i] for i in want]
    assert merged.display() == sorted(arrival, key=keys.__getitem__, reverse=reverse)


def test_an_empty_batch_changes_nothing() -> None:
    merged = SortedIds.sort(["b", "a"], str, reverse=True)
    merged.merge([], str)
    assert merged.display() == ["b", "a"]
    assert merged.find("a") == 0  # ascending inside
