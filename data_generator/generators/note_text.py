"""What each note says and its text: the picks a note draws (its encounter's choices, its
template, a licensed variant of each phrase), and the rendering of phrases and templates in the
sandbox, many notes per call. The note engine (notes.py) gives each note's context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np

from data_generator.errors import ConfigError
from data_generator.generators.timeline import expand
from data_generator.note_context import phrase_keys, render_table


class _Draws:
    """Bounded integers from one stream, asked for in order (each n appended to `highs`) and drawn
    together by `flush`: each is the floor of n times one uniform number of the stream. Every draw
    takes one number whatever its bound, so a bound that changes (a phrase that a scenario's edit
    licenses or not) changes that draw alone, not the draws of the notes after it."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.highs, self.values = rng, [], []

    def flush(self) -> list[int]:
        if len(self.highs) > len(self.values):
            highs = np.asarray(self.highs[len(self.values):], dtype=np.int64)
            picked = (self.rng.random(highs.size) * highs).astype(np.int64)
            self.values += np.minimum(picked, highs - 1).tolist()
        return self.values


@dataclass
class Licensed:
    """Each note's variants of one phrase key that its chart licenses: `pools[at[i]]` for note i
    (-1: the note does not use the key)."""
    pools: list[list[str]]
    at: np.ndarray

    @cached_property
    def sizes(self) -> np.ndarray:
        """How many variants each note may draw from (0 where it does not use the key)."""
        return np.array([*map(len, self.pools), 0], dtype=np.int64)[self.at]

    @cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Every variant in one array, and where each pool starts in it."""
        sizes = np.array([len(p) for p in self.pools], dtype=np.int64)
        return objects([v for pool in self.pools for v in pool]), np.cumsum(sizes) - sizes

    def picks(self, rows: np.ndarray, value: np.ndarray) -> list[str]:
        """Variant `value[j]` of note `rows[j]`'s pool, for each j."""
        flat, start = self._flat
        return flat[start[self.at[rows]] + value].tolist()


def objects(items: list) -> np.ndarray:
    """`items` (dicts, strings, numbers: never sequences) in a one-dimensional object array."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def records(keys: tuple[str, ...], cols: list[list], n: int) -> list[dict]:
    """`n` new dicts, row i holding `cols[j][i]` under `keys[j]` (keys in that order)."""
    blank = dict.fromkeys(keys)
    out = [blank.copy() for _ in range(n)]
    for key, col in zip(keys, cols, strict=True):
        for d, value in zip(out, col, strict=True):
            d[key] = value
    return out


def groups(which: np.ndarray, n: int) -> list[np.ndarray]:
    """The rows of each group 0 .. n-1 (`which`: each row's group), in row order."""
    if not n:
        return []
    return np.split(np.argsort(which, kind="stable"), np.cumsum(np.bincount(which, minlength=n))[:-1])


def draws(enc: np.ndarray, kind: np.ndarray, templates: list[list[str]], choices: list[dict[str, list[str]]],
          licensed: dict[str, Licensed], rng: np.random.Generator
          ) -> tuple[dict[int, dict[str, str]], np.ndarray, list[dict[str, str]]]:
    """What each note says, drawn in the order notes are written: at an encounter's first note its
    choices, then each note's template (note i's variants: `templates[kind[i]]`), then a variant
    of each phrase the template uses, from those its chart licenses. Returns each encounter's
    choices, each note's template (its place among the kinds' variants laid end to end) and
    phrases."""
    keys = [_shared_keys(tuple(variants)) for variants in templates]  # per kind; None: the template decides
    firsts = np.sort(np.unique(enc, return_index=True)[1])           # each encounter's first note
    opening = np.zeros(enc.size, dtype=np.int64)                      # choices drawn before the note's template
    opening[firsts] = [len(choices[e]) for e in enc[firsts].tolist()]
    phrases = np.array([len(k or ()) for k in keys], dtype=np.int64)[kind]
    value, decided = _drawn(enc, kind, firsts, opening, phrases, templates, keys, choices, licensed, rng)
    count = opening + 1 + phrases                                     # the draws of each note, as laid out
    at = np.cumsum(count) - count + opening                           # where each note's template was drawn
    picked = {}
    for i, e in zip(firsts.tolist(), enc[firsts].tolist(), strict=True):
        first = value[at[i] - opening[i]:at[i]].tolist()
        picked[e] = {name: pool[v] for (name, pool), v in zip(choices[e].items(), first, strict=True)}
    sizes = np.array([len(variants) for variants in templates], dtype=np.int64)
    return picked, (np.cumsum(sizes) - sizes)[kind] + value[at], _said(kind, keys, decided, value, at, licensed)


def _drawn(enc: np.ndarray, kind: np.ndarray, firsts: np.ndarray, opening: np.ndarray, phrases: np.ndarray,
           templates: list[list[str]], keys: list[tuple[str, ...] | None], choices: list[dict[str, list[str]]],
           licensed: dict[str, Licensed], rng: np.random.Generator) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
    """Every draw, one bounded integer of one stream each, laid out note after note; the bounds
    are drawn together, as `_Draws` does. Where a kind's templates use different phrases, the
    stream is drawn up to the note's template first, which then tells its phrases (`phrases[d]`
    is set, and the keys returned by note)."""
    bounds, template = _bounds(enc, kind, firsts, opening, phrases, templates, keys, choices, licensed)
    stream, done, decided = _Draws(rng), 0, {}
    for d in np.flatnonzero(np.array([k is None for k in keys], dtype=bool)[kind]).tolist():
        stream.highs += bounds[done:template[d] + 1].tolist()
        decided[d] = phrase_keys(templates[kind[d]][stream.flush()[-1]])
        stream.highs += [int(licensed[key].sizes[d]) for key in decided[d]]
        phrases[d], done = len(decided[d]), template[d] + 1
    stream.highs += bounds[done:].tolist()
    return np.array(stream.flush(), dtype=np.int64), decided


def _said(kind: np.ndarray, keys: list[tuple[str, ...] | None], decided: dict[int, tuple[str, ...]],
          value: np.ndarray, at: np.ndarray, licensed: dict[str, Licensed]) -> list[dict[str, str]]:
    """Each note's phrases, by key: the variants drawn after its template (at `at`)."""
    said = np.empty(kind.size, dtype=object)
    for names, rows in zip(keys, groups(kind, len(keys)), strict=True):
        if names is None or not rows.size:
            continue
        cols = [licensed[key].picks(rows, value[at[rows] + j]) for j, key in enumerate(names, 1)]
        said[rows] = objects(records(names, cols, rows.size))
    for d, names in decided.items():
        said[d] = {key: licensed[key].picks(np.array([d]), value[at[d] + j:at[d] + j + 1])[0]
                   for j, key in enumerate(names, 1)}
    return said.tolist()


def _bounds(enc: np.ndarray, kind: np.ndarray, firsts: np.ndarray, opening: np.ndarray, phrases: np.ndarray,
            templates: list[list[str]], keys: list[tuple[str, ...] | None], choices: list[dict[str, list[str]]],
            licensed: dict[str, Licensed]) -> tuple[np.ndarray, np.ndarray]:
    """The bound of every draw, note after note (the phrases of notes whose template decides
    them left out), and where each note's template is drawn."""
    count = opening + 1 + phrases
    start = np.cumsum(count) - count
    bounds = np.empty(int(count.sum()), dtype=np.int64)
    owner, pos = expand(opening)
    bounds[start[owner] + pos] = [len(pool) for e in enc[firsts].tolist() for pool in choices[e].values()]
    at = start + opening
    bounds[at] = np.array([len(variants) for variants in templates], dtype=np.int64)[kind]
    for k, names in enumerate(keys):
        rows = np.flatnonzero(kind == k)
        for j, key in enumerate(names or (), 1):
            bounds[at[rows] + j] = licensed[key].sizes[rows]
    return bounds, at


@cache
def _shared_keys(variants: tuple[str, ...]) -> tuple[str, ...] | None:
    """The phrase keys every template variant uses, in order, or None where they differ."""
    keys = {phrase_keys(t) for t in variants}
    return next(iter(keys)) if len(keys) == 1 else None


def _failed(at: str, exc: Exception) -> ConfigError:
    """A render failure as a config error naming the place (config checking renders every
    template and phrase; this is the last guard)."""
    return ConfigError(at, f"a template failed to render: {type(exc).__name__}: {exc}",
                       hint="fix the template or phrase; `datagen preview` checks a config")


def render_phrases(encs: list[int], context: dict[str, np.ndarray], picked: dict[int, dict[str, str]],
                   said: list[dict[str, str]], where: list[str]) -> list[dict[str, str]]:
    """Each note's phrases (`said`, rendered in place): plain text as is, a template rendered
    with the note's context (`context[name][i]`) and its encounter's choices."""
    groups: dict[tuple, list[tuple[int, str]]] = {}  # (text, choice names, place) -> its (note, phrase key)
    for i, key, text in [(i, key, text) for i, phrases in enumerate(said) for key, text in phrases.items()
                         if "{" in text]:
        groups.setdefault((text, tuple(picked[encs[i]]), where[i]), []).append((i, key))
    for (text, chosen, at), jobs in groups.items():
        members = [i for i, _ in jobs]
        rows = np.array(members, dtype=np.int64)

        def column(name: str, members=members, rows=rows, chosen=chosen) -> list:
            if name in chosen:
                return [picked[encs[i]][name] for i in members]
            return context[name][rows].tolist()
        try:
            rendered = render_table(text, (*context, *chosen), column, len(jobs))
        except Exception as exc:
            raise _failed(at, exc) from None
        for (i, key), r in zip(jobs, rendered, strict=True):
            said[i][key] = r
    return said


def render_notes(encs: list[int], context: dict[str, np.ndarray], picked: dict[int, dict[str, str]],
                 template_of: np.ndarray, templates: list[str], phrases: list[dict[str, str]], authors: list[str],
                 where: list[str]) -> list[str]:
    """Each note's text: its template (`templates[template_of[i]]`, a template of one place)
    rendered with its context (`context[name][i]`), its encounter's choices, its phrases (those
    opening a sentence capitalised) and its author. Notes sharing a template and the names of
    their choices render in one call."""
    named: dict[tuple, int] = {}  # choice names -> their number
    stays = {e: named.setdefault(tuple(choice), len(named)) for e, choice in picked.items()}
    names, m = list(named), max(len(named), 1)
    present, group = np.unique(template_of * m + np.array(list(map(stays.__getitem__, encs)), dtype=np.int64),
                               return_inverse=True)
    notes_said = objects(phrases)
    out = np.empty(len(template_of), dtype=object)
    for key, rows in zip(present.tolist(), groups(group, present.size), strict=True):
        template, at, chosen = templates[key // m], where[rows[0]], names[key % m]
        members = rows.tolist()
        said = _sentence_cased(template, notes_said[rows].tolist())

        def column(name: str, members=members, rows=rows, said=said, chosen=chosen) -> list:
            if name == "author":
                return [authors[i] for i in members]
            if name == "phrases":
                return said
            if name in chosen:
                return [picked[encs[i]][name] for i in members]
            return context[name][rows].tolist()
        try:
            rendered = render_table(template, (*context, *chosen, "phrases", "author"), column, len(members))
        except Exception as exc:
            raise _failed(at, exc) from None
        out[rows] = list(map(str.strip, rendered))
    return out.tolist()


@cache
def _initial_phrases(template: str) -> tuple[str, ...]:
    """Phrases that open a sentence in `template`: at a line start or after '. ', ': ', '? ' or '! '."""
    return tuple(re.findall(r"(?:^|[.:?!] )\{\{-? *phrases\.([a-z_][a-z0-9_]*)", template, re.MULTILINE))


def _sentence_cased(template: str, notes: list[dict]) -> list[dict]:
    """Each note's phrases (changed in place) with those that open a sentence capitalised, a key
    at a time; words with capitals inside (pH, hs-Troponin) keep their case."""
    for key in _initial_phrases(template):
        for phrases in notes:
            if isinstance(phrases[key], str):
                phrases[key] = _capitalised(phrases[key])
    return notes


@lru_cache(maxsize=1 << 14)
def _capitalised(text: str) -> str:
    """`text` as it opens a sentence: its first letter capitalised, unless its first word has
    capitals inside (pH, hs-Troponin)."""
    word = text.split(" ", 1)[0]
    if text[:1].islower() and word[1:] == word[1:].lower():
        return text[0].upper() + text[1:]
    return text
