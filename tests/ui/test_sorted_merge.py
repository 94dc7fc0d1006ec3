"""Merging batches into a kept sorted order gives exactly a whole stable sort (property-style,
random keys with many ties, both directions)."""

from __future__ import annotations

import random

import pytest

from cwsandbox_tui.ui.widgets.sorted_merge import merge_sorted


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_merging_batches_equals_a_whole_sort(seed: int, reverse: bool) -> None:
    rng = random.Random(seed)
    count = rng.randrange(0, 400)
    spread = rng.choice([1, 3, 20, 10_000])  # from all ties to almost none
    keys: dict[str, object] = {}
    use_text_keys = rng.random() < 0.3
    mixed = rng.random() < 0.3
    for n in range(count):
        row_id = f"r{rng.randrange(10**9)}-{n}"
        keys[row_id] = f"k{rng.randrange(spread):05d}" if use_text_keys else float(
            rng.randrange(spread))
        if mixed and not use_text_keys and rng.random() < 0.05:
            keys[row_id] = rng.randrange(spread)  # an int among floats
    arrival = list(keys)
    first = rng.randrange(0, count + 1)
    merged = sorted(arrival[:first], key=keys.__getitem__, reverse=reverse)
    at = first
    while at < count:
        size = rng.choice([1, 2, 7, 50, 300])
        merged = merge_sorted(merged, arrival[at:at + size], keys.__getitem__, reverse)
        at += size
        assert merged == sorted(arrival[:at], key=keys.__getitem__, reverse=reverse)
    assert merged == sorted(arrival, key=keys.__getitem__, reverse=reverse)


def test_an_empty_batch_changes_nothing() -> None:
    ordered = ["b", "a"]
    assert merge_sorted(ordered, [], str, reverse=True) is ordered
