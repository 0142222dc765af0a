"""Words in messages people read: a count and its noun agree (`plural`). Pure; the core's own, so the CLI,
the service and the runner say "1 account" alike."""

from __future__ import annotations

_PLURALS = {"entity": "entities", "alert was": "alerts were", "was": "were", "body": "bodies"}


def plural(n: int, word: str) -> str:
    """`n` and `word`, in the plural unless `n` is 1: plural(1, 'account') -> '1 account', plural(2, 'entity') ->
    '2 entities', plural(3, 'was') -> '3 were'. Every count in a message goes through here."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {_PLURALS.get(word, word + 's')}"
