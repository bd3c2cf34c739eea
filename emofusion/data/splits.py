"""Subject-wise RAVDESS splits: no actor is ever in two of train / validation / test.

Protocols: the 5 folds of Luna-Jimenez et al. 2021 (the comparison the literature uses), 6
contiguous folds of 4 actors, the reference's single split, or custom actor lists. Validation
actors always come from the training side (never the test fold), chosen deterministically and
balanced by gender, so model selection never peeks at test actors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from emofusion.data.ravdess import ACTORS, gender_of
from emofusion.errors import EmofusionError

LUNA5_TEST: tuple[tuple[int, ...], ...] = (
    (2, 5, 14, 15, 16),
    (3, 6, 7, 13, 18),
    (10, 11, 12, 19, 20),
    (8, 17, 21, 23, 24),
    (1, 4, 9, 22),
)
CONTIGUOUS6_TEST: tuple[tuple[int, ...], ...] = tuple(tuple(range(s, s + 4)) for s in range(1, 25, 4))
# The released reference checkpoints' split (one fold only).
REFERENCE_TEST: tuple[int, ...] = (5, 10, 16, 19)
REFERENCE_VAL: tuple[int, ...] = (11, 13, 18, 22)
PROTOCOLS = ("luna5", "contiguous6", "reference")
DEFAULT_N_VAL = 4


class SplitError(EmofusionError, ValueError):
    """Actor lists that cannot form a subject-wise split (unknown actor, overlap, too few)."""


@dataclass(frozen=True)
class Split:
    name: str
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "train": list(self.train), "val": list(self.val), "test": list(self.test)}


def _check_actors(actors: Iterable[int], what: str, universe: Sequence[int]) -> tuple[int, ...]:
    out = []
    for a in actors:
        if isinstance(a, bool) or not isinstance(a, int):
            raise SplitError(f"{what}: actor {a!r} is not an integer")
        if a not in universe:
            raise SplitError(f"{what}: unknown actor {a} (known: {min(universe)}-{max(universe)})")
        if a in out:
            raise SplitError(f"{what}: actor {a} listed twice")
        out.append(a)
    return tuple(sorted(out))


def _spread(candidates: Sequence[int], k: int) -> list[int]:
    """k evenly spaced members of a sorted list (deterministic, not bunched at one end)."""
    n = len(candidates)
    return [candidates[int((i + 0.5) * n / k)] for i in range(k)] if k else []


def choose_val(train_side: Iterable[int], n_val: int = DEFAULT_N_VAL) -> tuple[int, ...]:
    """Pick `n_val` validation actors from the training side, half male half female where possible."""
    pool = sorted(set(train_side))
    if n_val < 0:
        raise SplitError(f"n_val must be >= 0, got {n_val}")
    if n_val >= len(pool):
        raise SplitError(f"n_val={n_val} leaves no training actors (only {len(pool)} on the training side)")
    males = [a for a in pool if gender_of(a) == "male"]
    females = [a for a in pool if gender_of(a) == "female"]
    k_m = min(len(males), n_val // 2)
    k_f = min(len(females), n_val // 2)
    while k_m + k_f < n_val:  # odd n_val or one gender short: top up from the larger remainder
        if len(males) - k_m >= len(females) - k_f and k_m < len(males):
            k_m += 1
        else:
            k_f += 1
    return tuple(sorted(_spread(males, k_m) + _spread(females, k_f)))


def custom_split(
    test: Iterable[int],
    val: Iterable[int] | None = None,
    n_val: int = DEFAULT_N_VAL,
    name: str = "custom",
    actors: Sequence[int] = ACTORS,
) -> Split:
    """A split from explicit test (and optionally validation) actors; the rest train."""
    universe = tuple(sorted(set(actors)))
    test_t = _check_actors(test, "test", universe)
    if not test_t:
        raise SplitError("test: no actors given")
    train_side = [a for a in universe if a not in test_t]
    if val is None:
        val_t = choose_val(train_side, n_val)
    else:
        val_t = _check_actors(val, "val", universe)
        overlap = set(val_t) & set(test_t)
        if overlap:
            raise SplitError(f"val and test overlap on actors {sorted(overlap)}")
    train = tuple(a for a in train_side if a not in val_t)
    if not train:
        raise SplitError("no training actors left")
    return Split(name, train, val_t, test_t)


def protocol_splits(protocol: str, n_val: int = DEFAULT_N_VAL, actors: Sequence[int] = ACTORS) -> list[Split]:
    """All folds of a named protocol (see PROTOCOLS)."""
    if protocol == "luna5":
        tests = LUNA5_TEST
    elif protocol == "contiguous6":
        tests = CONTIGUOUS6_TEST
    elif protocol == "reference":
        val = REFERENCE_VAL if n_val == len(REFERENCE_VAL) else None
        return [custom_split(REFERENCE_TEST, val, n_val, name="reference", actors=actors)]
    else:
        raise SplitError(f"unknown split protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return [
        custom_split(t, None, n_val, name=f"{protocol}-fold{i + 1}", actors=actors) for i, t in enumerate(tests)
    ]


def parse_actor_list(text: str) -> tuple[int, ...]:
    """'1,2,5-8' -> (1, 2, 5, 6, 7, 8); for CLI options."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise SplitError(f"bad actor list {text!r}: use e.g. 1,2,5-8") from None
    return tuple(out)


def over_present(split: Split, present: Iterable[int], n_val: int = DEFAULT_N_VAL) -> tuple[Split | None, list[str]]:
    """`split` restricted to the actors a cache really holds, and what changed, in words.

    Why: a user with part of RAVDESS (e.g. `download --actors 1-4`) must not get a fold scored on
    no test clips (0.0 % averaged in) nor a report claiming a validation choice that never
    happened. Rules: no test actor present -> (None, why): the fold is skipped; validation actors
    absent -> taken again from the present training side (`choose_val`, as the protocols do): as
    many as the protocol asks, at most a quarter of that side (at least one while two or more are
    there); none possible -> no validation, the last epoch is kept, and
    the notes say so. A split whose actors are all present comes back unchanged."""
    have = set(present)
    test = tuple(a for a in split.test if a in have)
    if not test:
        return None, [f"{split.name}: none of its test actors {list(split.test)} is present: fold skipped"]
    notes = []
    if len(test) < len(split.test):
        notes.append(f"{split.name}: test actors {sorted(set(split.test) - have)} absent; tested on {list(test)}")
    side = sorted(a for a in have if a not in test)
    if not side:
        raise SplitError(f"{split.name}: no training actor is present (present: {sorted(have)})")
    val = tuple(a for a in split.val if a in have)
    if len(val) < len(split.val):
        k = min(n_val if split.val else 0, max(1, len(side) // 4), len(side) - 1)
        val = choose_val(side, k) if k > 0 else ()
        notes.append(f"{split.name}: validation actors {list(split.val)} not all present; "
                     + (f"validating on {list(val)} from the present training side" if val
                        else "no validation actors: the last epoch is kept"))
    train = tuple(a for a in side if a not in val)
    absent = sorted(set(split.train) - have)
    if absent:
        notes.append(f"{split.name}: training actors {absent} absent")
    if (train, val, test) == (split.train, split.val, split.test):
        return split, []
    return Split(split.name, train, val, test), notes
