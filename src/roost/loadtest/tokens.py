"""The tokens file `roost bench` reads, and drawing users from it with a skew.

One user a line, tab-separated::

    username<TAB>access_token[<TAB>account_id[<TAB>activity_weight]]

Blank lines and lines starting with ``#`` are skipped. When every line carries an
activity weight, users are drawn in proportion to it; when none does, the file's line
order is the popularity order and line *i* (from 1) gets the Zipf-like weight
``1 / i**ZIPF_EXPONENT``. A file that mixes both is refused: the two scales do not mix.
Missing account ids are looked up later, lazily (`verify_credentials`).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ZIPF_EXPONENT = 1.0


class TokensError(ValueError):
    """The tokens file cannot be used; the message says which line and why."""


@dataclass
class BenchUser:
    username: str
    token: str
    account_id: str | None
    weight: float


def zipf_weights(count: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def parse_tokens(text: str, source: str = "tokens file") -> list[BenchUser]:
    users: list[BenchUser] = []
    weights: list[float | None] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{source}, line {number}"
        if len(fields) < 2 or len(fields) > 4:
            raise TokensError(
                f"{where}: expected 2 to 4 tab-separated fields "
                f"(username, access_token[, account_id[, activity_weight]]), got {len(fields)}"
            )
        username, token = fields[0].strip(), fields[1].strip()
        if not username or not token:
            raise TokensError(f"{where}: username and access_token must not be empty")
        if any(ch.isspace() for ch in token):
            raise TokensError(f"{where}: access_token contains whitespace")
        account_id = fields[2].strip() if len(fields) >= 3 and fields[2].strip() else None
        weight: float | None = None
        if len(fields) == 4 and fields[3].strip():
            try:
                weight = float(fields[3])
            except ValueError:
                raise TokensError(
                    f"{where}: activity_weight {fields[3]!r} is not a number"
                ) from None
            if not math.isfinite(weight) or weight < 0:
                raise TokensError(f"{where}: activity_weight must be a finite number >= 0")
        users.append(BenchUser(username, token, account_id, 0.0))
        weights.append(weight)
    if not users:
        raise TokensError(f"{source}: no users (expected username<TAB>access_token lines)")
    given = [w for w in weights if w is not None]
    if given and len(given) != len(weights):
        raise TokensError(
            f"{source}: {len(given)} of {len(weights)} lines have an activity_weight; "
            "give it on every line or on none (then line order is the popularity order)"
        )
    final = given if given else zipf_weights(len(users))
    if sum(final) <= 0:
        raise TokensError(f"{source}: every activity_weight is 0")
    for user, w in zip(users, final, strict=True):
        user.weight = w
    return users


def load_tokens(path: Path) -> list[BenchUser]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokensError(f"cannot read tokens file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TokensError(f"tokens file {path} is not UTF-8 text") from None
    return parse_tokens(text, str(path))


class WeightedPicker:
    """Draw indexes 0..n-1 with probability proportional to their weights, in O(log n)."""

    def __init__(self, weights: Sequence[float]) -> None:
        if not weights:
            raise ValueError("no weights")
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ValueError("weights sum to 0")

    def __len__(self) -> int:
        return len(self._cumulative)

    def pick(self, rng: random.Random) -> int:
        point = rng.random() * self._total
        index = bisect.bisect_right(self._cumulative, point)
        return min(index, len(self._cumulative) - 1)
