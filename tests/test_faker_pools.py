"""The registry's names and places are Faker's own: `Draws` gives what a seeded Faker gives."""

from __future__ import annotations

import pytest
from faker import Faker

from data_generator.generators.faker_pools import Draws
from data_generator.generators.registry import POOL_SIZES, _faker_pools
from data_generator.rng import int_seed


def _faker(seed: int) -> Faker:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


def _faker_place(fake: Faker) -> tuple[str, str, str]:
    state = fake.state_abbr(include_territories=False)
    return fake.city(), state, fake.zipcode_in_state(state)


@pytest.mark.parametrize("seed", [0, 7, 2**62 + 3])
def test_interleaved_draws_equal_fakers(seed):
    """Every kind of value, interleaved, stays on Faker's stream: one draw too many or too few, or
    another table or weight, and every later value differs."""
    mine, fake = Draws(seed), _faker(seed)
    calls = [(mine.place, lambda: _faker_place(fake)),
             (mine.first_name_female, fake.first_name_female),
             (mine.street_address, fake.street_address),
             (mine.first_name_male, fake.first_name_male),
             (mine.last_name, fake.last_name)]
    got = [[draw() for draw, _ in calls] for _ in range(300)]
    want = [[draw() for _, draw in calls] for _ in range(300)]
    assert got == want
    assert mine.random.random() == fake.random.random()  # the streams end at the same place
    assert len({row[2] for row in got}) > 250  # street addresses vary (not one value repeated)


def test_registry_pools_equal_the_faker_built_pools():
    """The registry's pools, in their drawing order, are what Faker's calls give for the seed."""
    fake = _faker(int_seed(11, "faker", "pools"))
    n = POOL_SIZES
    places = tuple(_faker_place(fake) for _ in range(n["place"]))
    want = {
        "first_f": tuple(fake.first_name_female() for _ in range(n["first_f"])),
        "first_m": tuple(fake.first_name_male() for _ in range(n["first_m"])),
        "last": tuple(fake.last_name() for _ in range(n["last"])),
        "street": tuple(fake.street_address() for _ in range(n["street"])),
        "place": places,
    }
    assert _faker_pools(11, "en_US") == want


def test_what_is_not_drawn_here_is_refused():
    """Only en_US tables and '#' placeholders are drawn: another locale, or a format with Faker's
    other digit placeholders, is refused rather than drawn differently from Faker."""
    with pytest.raises(ValueError, match="de_DE"):
        Draws(1, "de_DE")
    with pytest.raises(ValueError, match="only '#'"):
        Draws(1).numerify("##%")


def test_draws_are_randoms_own():
    """A choice, `randint` and a weighted choice take the same draws from the stream as `random`'s
    own calls (sizes 1, powers of two and around them, Faker's table sizes, zip ranges)."""
    import random

    mine, theirs = Draws(5), random.Random(5)
    for n in [1, 2, 3, 7, 8, 9, 10, 16, 17, 100, 1000, 1024, 1025, 99_999]:
        table = [str(i) for i in range(n)]
        choice = mine._plain(table)
        assert [choice() for _ in range(50)] == [theirs.choice(table) for _ in range(50)]
        assert [mine.randint(600, 600 + n) for _ in range(50)] == [theirs.randint(600, 600 + n) for _ in range(50)]
    weights = {"a": 0.5, "b": 2.0, "c": 0.0, "d": 1.25}
    weighted = mine._weighted(weights)
    want = [theirs.choices(list(weights), weights=list(weights.values()))[0] for _ in range(200)]
    assert [weighted() for _ in range(200)] == want
    assert mine.random.random() == theirs.random()
