"""The verifiable draw on its own (no database, no app): reproducible, checkable, fair, weighted.

The statistical tests use fixed seeds, so they are deterministic: each either always passes or
always fails, and the bound (the 0.999 quantile of chi-square) leaves room for an honest draw.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

import pytest

from inscriptions.allocation import draw

IDS = [f"LOI-D{n:06d}" for n in range(1, 21)]
# Upper 0.999 quantiles of chi-square.
CHI2_999 = {2: 13.816, 4: 18.467}


def chi_square(observed: Sequence[int], expected: Sequence[float]) -> float:
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))


# Reproducible and checkable


def test_same_seed_and_entries_give_the_same_order_whatever_their_input_order() -> None:
    entries = [(public_id, 1 + n % 3) for n, public_id in enumerate(IDS)]
    order = draw.draw_order("seed", entries)
    assert sorted(order) == sorted(IDS)
    assert draw.draw_order("seed", entries) == order
    assert draw.draw_order("seed", list(reversed(entries))) == order
    shuffler = random.Random(7)
    for _ in range(5):
        shuffled = entries[:]
        shuffler.shuffle(shuffled)
        assert draw.draw_order("seed", iter(shuffled)) == order


def test_another_seed_gives_another_order() -> None:
    assert draw.draw_order("seed-1", IDS) != draw.draw_order("seed-2", IDS)


def test_weight_one_is_the_same_as_a_bare_public_id() -> None:
    assert draw.draw_order("seed", [(public_id, 1) for public_id in IDS]) == draw.draw_order("seed", IDS)


def test_commitment_is_the_sha256_of_the_seed() -> None:
    seed = draw.new_seed()
    assert draw.commitment(seed) == hashlib.sha256(seed.encode("utf-8")).hexdigest()
    assert draw.commitment("é") == hashlib.sha256(b"\xc3\xa9").hexdigest()


def test_new_seed_is_64_hex_digits_and_fresh() -> None:
    seed = draw.new_seed()
    assert len(seed) == 64
    assert int(seed, 16) >= 0
    assert draw.new_seed() != seed


def test_ticket_matches_a_hand_computation() -> None:
    message = b"sha256-tickets/1\nabc\nLOI-D000437\n3"
    assert draw.ticket("abc", "LOI-D000437", 3) == int.from_bytes(hashlib.sha256(message).digest(), "big")
    # As printed by: printf 'sha256-tickets/1\nabc\nLOI-D000437\n0' | sha256sum (the docstring's example).
    expected = "8e7054afd179991631dc34bfe99f30101111c1e564285bd30c5164b2ac00efb3"
    assert draw.ticket("abc", "LOI-D000437") == int(expected, 16)


def test_key_is_the_smallest_ticket_of_an_entry() -> None:
    entries = {"LOI-D000001": 3, "LOI-D000002": 1, "LOI-D000003": 5, "LOI-D000004": 2}
    keys = {pid: min(draw.ticket("k", pid, n) for n in range(w)) for pid, w in entries.items()}
    assert draw.draw_order("k", entries.items()) == sorted(entries, key=keys.__getitem__)


def test_a_published_draw_never_changes() -> None:
    # A draw published today must give the same order forever: changing how tickets or keys
    # are computed needs a new ALGORITHM name, not a silent change.
    assert draw.ALGORITHM == "sha256-tickets/1"
    entries = [("LOI-D000001", 2), "LOI-D000002", ("LOI-D000003", 3), "LOI-D000004", "LOI-D000005"]
    assert draw.draw_order("golden", entries) == [
        "LOI-D000003", "LOI-D000001", "LOI-D000002", "LOI-D000004", "LOI-D000005",
    ]


def test_verify_accepts_the_right_seed_and_order_only() -> None:
    seed, other_seed = draw.new_seed(), draw.new_seed()
    published = draw.commitment(seed)
    entries = [(public_id, 2 if n % 4 == 0 else 1) for n, public_id in enumerate(IDS)]
    order = draw.draw_order(seed, entries)

    assert draw.verify(seed, published, entries, order)
    assert draw.verify(seed, published.upper(), entries, tuple(order))
    # Wrong seed: does not match the commitment.
    assert not draw.verify(other_seed, published, entries, order)
    # Tampered order: two applications swapped, one left out, one added.
    swapped = [order[1], order[0], *order[2:]]
    assert not draw.verify(seed, published, entries, swapped)
    assert not draw.verify(seed, published, entries, order[:-1])
    assert not draw.verify(seed, published, entries, [*order, "LOI-D999999"])
    # Another seed's commitment, with that seed's own order: the seed is not the one published.
    assert not draw.verify(other_seed, published, entries, draw.draw_order(other_seed, entries))
    assert not draw.verify(seed, draw.commitment(other_seed), entries, order)
    # Other weights give another draw than the one recorded. (For one seed in twenty the weights
    # happen not to change the order, which then says nothing about them: take a seed where they do.)
    for candidate in (draw.new_seed() for _ in range(200)):
        weighted = draw.draw_order(candidate, entries)
        if weighted != draw.draw_order(candidate, IDS):
            break
    assert not draw.verify(candidate, draw.commitment(candidate), IDS, weighted)
    assert draw.verify(candidate, draw.commitment(candidate), entries, weighted)


def test_ranks_start_at_one() -> None:
    assert draw.ranks(["LOI-D000003", "LOI-D000001", "LOI-D000002"]) == {
        "LOI-D000003": 1, "LOI-D000001": 2, "LOI-D000002": 3,
    }
    assert draw.ranks([]) == {}


# Fair


FIVE = ["LOI-D000001", "LOI-D000002", "LOI-D000003", "LOI-D000004", "LOI-D000005"]


def test_every_entry_is_equally_likely_to_come_first() -> None:
    firsts = Counter(draw.draw_order(f"seed-{n}", FIVE)[0] for n in range(5_000))
    statistic = chi_square([firsts[public_id] for public_id in FIVE], [1_000] * 5)
    assert statistic < CHI2_999[4], (statistic, firsts)


def test_an_entry_is_equally_likely_at_every_rank() -> None:
    positions = Counter(draw.ranks(draw.draw_order(f"seed-{n}", FIVE))["LOI-D000003"] for n in range(5_000))
    statistic = chi_square([positions[rank] for rank in range(1, 6)], [1_000] * 5)
    assert statistic < CHI2_999[4], (statistic, positions)


def test_weight_two_is_twice_as_likely_to_come_first() -> None:
    entries = [("a", 2), "b", ("c", 1)]
    firsts = Counter(draw.draw_order(f"seed-{n}", entries)[0] for n in range(6_000))
    statistic = chi_square([firsts["a"], firsts["b"], firsts["c"]], [3_000, 1_500, 1_500])
    assert statistic < CHI2_999[2], (statistic, firsts)


# Bad input


@pytest.mark.parametrize(
    ("seed", "entries", "message"),
    [
        ("seed", ["LOI-D000001", "LOI-D000002", "LOI-D000001"], "Duplicate public id"),
        ("seed", ["LOI-D000001", ("LOI-D000001", 2)], "Duplicate public id"),
        ("seed", [("LOI-D000001", 0)], "weight"),
        ("seed", [("LOI-D000001", 101)], "weight"),
        ("seed", [("LOI-D000001", True)], "weight"),
        ("seed", [("LOI-D000001", 1.5)], "weight"),
        ("seed", [("LOI-D000001", "2")], "weight"),
        ("seed", [("LOI-D000001", 2, 3)], "pair"),
        ("seed", [""], "public id"),
        ("seed", ["LOI-D000001\n1"], "line break"),
        ("", ["LOI-D000001"], "seed"),
        ("", [], "seed"),
    ],
)
def test_bad_input_raises_value_error(seed: str, entries: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        draw.draw_order(seed, entries)  # type: ignore[arg-type]


def test_the_largest_weight_is_accepted() -> None:
    assert draw.draw_order("seed", [("LOI-D000001", 100), "LOI-D000002"]) in (
        ["LOI-D000001", "LOI-D000002"], ["LOI-D000002", "LOI-D000001"],
    )
