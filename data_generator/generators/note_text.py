"""What each note says and its text: the picks a note draws (its encounter's choices, its
template, a licensed variant of each phrase), and the rendering of phrases and templates in the
sandbox, many notes per call. The note engine (notes.py) gives each note's context.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import numpy as np

from data_generator.errors import ConfigError
from data_generator.note_context import phrase_keys, render_table


class _Draws:
    """Bounded integers from one stream, asked for in order (each n appended to `highs`) and drawn
    together by `flush`: the values are those one `rng.integers(n)` call per n would give."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.highs, self.values = rng, [], []

    def flush(self) -> list[int]:
        if len(self.highs) > len(self.values):
            self.values += self.rng.integers(0, np.asarray(self.highs[len(self.values):], dtype=np.int64)).tolist()
        return self.values


def draws(encs: list[int], templates: list[list[str]], choices: list[dict[str, list[str]]],
          licensed: dict[str, list], rng: np.random.Generator
          ) -> tuple[dict[int, dict[str, str]], list[str], list[dict[str, str]]]:
    """What each note says, drawn in the order notes are written: at an encounter's first note its
    choices, then each note's template, then a variant of each phrase the template uses, from
    those its chart licenses (`licensed[key][i]`: note i's variants of phrase `key`). Returns each
    encounter's choices, each note's template and phrases."""
    picks, first, plan = _Draws(rng), {}, []
    highs = picks.highs  # asked for in place: one note at a time, in order
    shared: dict[int, tuple[str, ...] | None] = {}  # by id of a note type's template list
    for i, (e, variants) in enumerate(zip(encs, templates, strict=True)):
        if e not in first:
            first[e] = len(highs)
            highs += [len(pool) for pool in choices[e].values()]
        t = len(highs)
        highs.append(len(variants))
        if id(variants) not in shared:
            shared[id(variants)] = _shared_keys(tuple(variants))
        keys = shared[id(variants)]
        if keys is None:  # the template decides which phrases follow: draw it now
            keys = phrase_keys(variants[picks.flush()[t]])
        highs += [len(licensed[key][i]) for key in keys]
        plan.append((t, keys))
    value = picks.flush()
    picked = {e: {name: pool[value[at + j]] for j, (name, pool) in enumerate(choices[e].items())}
              for e, at in first.items()}
    chosen = [variants[value[t]] for variants, (t, _) in zip(templates, plan, strict=True)]
    said = [{key: licensed[key][i][value[t + j]] for j, key in enumerate(keys, 1)}
            for i, (t, keys) in enumerate(plan)]
    return picked, chosen, said


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
    for i, phrases in enumerate(said):
        for key, text in phrases.items():
            if "{" in text:
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
                 templates: list[str], phrases: list[dict[str, str]], authors: list[str],
                 where: list[str]) -> list[str]:
    """Each note's text: its template rendered with its context (`context[name][i]`), its
    encounter's choices, its phrases (those opening a sentence capitalised) and its author. Notes
    sharing a template, a place and the names of their choices render in one call."""
    groups: dict[tuple, list[int]] = {}
    names = {e: tuple(choice) for e, choice in picked.items()}
    for i, key in enumerate(zip(templates, where, map(names.__getitem__, encs), strict=True)):
        groups.setdefault(key, []).append(i)
    out = np.empty(len(templates), dtype=object)
    for (template, at, chosen), members in groups.items():
        rows = np.array(members, dtype=np.int64)
        said = [phrases[i] for i in members]
        for key in _initial_phrases(template):
            for d in said:
                if isinstance(d[key], str):
                    d[key] = _capitalised(d[key])

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


def _sentence_case(template: str, phrases: dict) -> dict:
    """Capitalise phrases that open a sentence; words with capitals inside (pH, hs-Troponin) keep their case."""
    for key in _initial_phrases(template):
        if isinstance(phrases[key], str):
            phrases[key] = _capitalised(phrases[key])
    return phrases


@lru_cache(maxsize=1 << 14)
def _capitalised(text: str) -> str:
    """`text` as it opens a sentence: its first letter capitalised, unless its first word has
    capitals inside (pH, hs-Troponin)."""
    word = text.split(" ", 1)[0]
    if text[:1].islower() and word[1:] == word[1:].lower():
        return text[0].upper() + text[1:]
    return text
