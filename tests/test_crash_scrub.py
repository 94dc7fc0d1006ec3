"""The crash report's scrubbing of header values, in the forms a traceback shows them."""

from __future__ import annotations

import pytest

from cwsandbox_tui.crash import REDACTED, scrub


@pytest.mark.parametrize(("shown", "scrubbed"), [
    ("authorization: Bearer s3cr3t-v4lue", f"authorization: Bearer {REDACTED}"),
    ("(('authorization', 'Bearer s3cr3t-v4lue'),)", f"(('authorization', 'Bearer {REDACTED}'),)"),
    ('{"Authorization": "Basic s3cr3t-v4lue"}', f'{{"Authorization": "Basic {REDACTED}"}}'),
    ("[('x-wandb-api-key', 's3cr3t-v4lue')]", f"[('x-wandb-api-key', '{REDACTED}')]"),
    ("x-wandb-api-key=s3cr3t-v4lue rest", f"x-wandb-api-key={REDACTED} rest"),
])
def test_header_values_are_scrubbed_whatever_their_form(shown: str, scrubbed: str) -> None:
    assert scrub(shown, set()) == scrubbed


def test_known_values_are_scrubbed_anywhere_longest_first() -> None:
    text = "key abcd1234, then abcd1234efgh in a path /x/abcd1234efgh/y"
    assert scrub(text, {"abcd1234", "abcd1234efgh"}) == \
        f"key {REDACTED}, then {REDACTED} in a path /x/{REDACTED}/y"
