"""Names and places for the registry: Faker's en_US tables, drawn as Faker draws them.

A seeded `Faker("en_US")` answers `first_name_female()`, `last_name()`, `street_address()`,
`city()`... by expanding a template picked from its tables and drawing each part from one
`random.Random`. `Draws` makes the same calls on a `random.Random` seeded the same way, in the
same order, on Faker's own tables: `random.choice` for a plain table, `random.choices` with the
table's weights for a weighted one (Faker's `random_element`), `randint(0, 9)` per `#`
(`numerify`), `randint(low, high)` over the state's range (`zipcode_in_state`). Each of those
calls is made as `random.Random` makes it, from the same `getrandbits` and `random` draws (an
integer below n: n's bit length of bits, drawn again until below n; a weighted choice: a
bisection of the running sums at `random()` times their total). So the values are Faker's,
without its per-call template parsing and weight summing, nor `random`'s argument checks
(tests compare them with Faker's own calls and with `random`'s).
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import cache
from itertools import accumulate

LOCALE = "en_US"  # the one locale whose tables are drawn here (the one `hospital.locale` allows)
TOKEN = re.compile(r"\{\{\s*(\w+)(:\s*\w+?)?\s*\}\}")  # Faker's template token (`faker.generator._re_token`)


@cache
def _template(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A template's literal parts (one more than its tokens) and its token names, in order."""
    parts = TOKEN.split(text)  # literal, name, argument group, literal, ...
    if any(parts[2::3]):
        raise ValueError(f"Faker template {text!r}: argument groups are not drawn here")
    return tuple(parts[0::3]), tuple(parts[1::3])


@cache
def _digit_format(text: str) -> tuple[str, ...]:
    """A `numerify` format's literal parts, one more than its `#` placeholders."""
    if any(c in text for c in "%$!@"):
        raise ValueError(f"Faker format {text!r}: only '#' placeholders are drawn here")
    return tuple(text.split("#"))


class Draws:
    """Faker en_US person and address values, drawn on one seeded `random.Random` stream."""

    def __init__(self, seed: int, locale: str = LOCALE) -> None:
        if locale != LOCALE:
            raise ValueError(f"Faker locale {locale!r}: only {LOCALE} names and places are drawn here")
        from faker.providers.address.en_US import Provider as Address  # imported when first needed (slow)
        from faker.providers.person.en_US import Provider as Person

        self.random = random.Random(seed)
        self._bits, self._fraction = self.random.getrandbits, self.random.random
        self._address = Address
        self._states = Address.states_abbr + Address.freely_associated_states_abbr  # no territories
        self._tokens: dict[str, Callable[[], str]] = {
            "first_name": self._weighted(Person.first_names),
            "last_name": self._weighted(Person.last_names),
            "city_prefix": self._plain(Address.city_prefixes),
            "city_suffix": self._plain(Address.city_suffixes),
            "street_suffix": self._plain(Address.street_suffixes),
            "building_number": self._numerified(Address.building_number_formats),
            "street_name": self._parsed(Address.street_name_formats),
            "secondary_address": self._numerified(Address.secondary_address_formats),
        }
        self._digit = self._plain("0123456789")  # `randint(0, 9)`, as a character
        self.street_address = self._parsed(Address.street_address_formats)
        self._city = self._parsed(Address.city_formats)
        self._state = self._plain(self._states)
        self.first_name_female = self._weighted(Person.first_names_female)
        self.first_name_male = self._weighted(Person.first_names_male)
        self.last_name = self._tokens["last_name"]

    def below(self, n: int) -> int:
        """`random.Random`'s integer in [0, n) (n > 0), as `choice` and `randint` draw it."""
        k = n.bit_length()
        r = self._bits(k)
        while r >= n:
            r = self._bits(k)
        return r

    def randint(self, low: int, high: int) -> int:
        """`random.randint(low, high)`."""
        return low + self.below(high - low + 1)

    def _plain(self, table: Sequence[str]) -> Callable[[], str]:
        """`random.choice(table)`, as a function of no arguments (the table's size and bit length
        known beforehand)."""
        bits, n = self._bits, len(table)
        k = n.bit_length()

        def draw() -> str:
            r = bits(k)  # `below(n)`
            while r >= n:
                r = bits(k)
            return table[r]
        return draw

    def _parsed(self, formats: Sequence[str]) -> Callable[[], str]:
        """A template chosen from `formats`, then parsed."""
        choose = self._plain(formats)
        return lambda: self.parse(choose())

    def _numerified(self, formats: Sequence[str]) -> Callable[[], str]:
        """A format chosen from `formats`, then numerified."""
        choose = self._plain(formats)
        return lambda: self.numerify(choose())

    def _weighted(self, table: dict[str, float]) -> Callable[[], str]:
        """`random.choices(keys, weights)`: the running sums (computed once) bisected at `random()`
        times their total."""
        keys, cum = tuple(table), list(accumulate(table.values()))
        total, last = cum[-1] + 0.0, len(cum) - 1
        return lambda: keys[bisect_right(cum, self._fraction() * total, 0, last)]

    def parse(self, text: str) -> str:
        """A template with each token drawn, left to right."""
        literal, names = _template(text)
        out = [literal[0]]
        for name, after in zip(names, literal[1:], strict=True):
            out += (self._tokens[name](), after)
        return "".join(out)

    def numerify(self, text: str) -> str:
        """Faker's `numerify` for a format whose only placeholder is `#` (a digit each, left to right)."""
        literal = _digit_format(text)
        digit, out = self._digit, [literal[0]]
        for after in literal[1:]:
            out += (digit(), after)
        return "".join(out)

    def place(self) -> tuple[str, str, str]:
        """(city, state, zip): `state_abbr(include_territories=False)`, `city()`, `zipcode_in_state(state)`."""
        state = self._state()
        city = self._city()
        return city, state, f"{self.randint(*self._address.states_postcode[state]):05d}"
