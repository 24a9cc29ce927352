"""What each note says and its text: the picks a note draws (its encounter's choices, its
template, a licensed variant of each phrase), and the rendering of phrases and templates in the
sandbox, many notes per call. The note engine (notes.py) gives each note's context.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from data_generator.errors import ConfigError
from data_generator.note_context import phrase_keys, render_many


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
           licensed: list[dict[str, list[str]]], rng: np.random.Generator
           ) -> tuple[dict[int, dict[str, str]], list[str], list[dict[str, str]]]:
    """What each note says, drawn in the order notes are written: at an encounter's first note its
    choices, then each note's template, then a variant of each phrase the template uses, from
    those its chart licenses. Returns each encounter's choices, each note's template and phrases."""
    picks, first, plan = _Draws(rng), {}, []
    highs = picks.highs  # asked for in place: one note at a time, in order
    shared: dict[int, tuple[str, ...] | None] = {}  # by id of a note type's template list
    for e, variants, allowed in zip(encs, templates, licensed, strict=True):
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
        highs += [len(allowed[key]) for key in keys]
        plan.append((t, keys))
    value = picks.flush()
    picked = {e: {name: pool[value[at + j]] for j, (name, pool) in enumerate(choices[e].items())}
              for e, at in first.items()}
    chosen = [variants[value[t]] for variants, (t, _) in zip(templates, plan, strict=True)]
    said = [{key: allowed[key][value[t + j]] for j, key in enumerate(keys, 1)}
            for allowed, (t, keys) in zip(licensed, plan, strict=True)]
    return picked, chosen, said


@cache
def _shared_keys(variants: tuple[str, ...]) -> tuple[str, ...] | None:
    """The phrase keys every template variant uses, in order, or None where they differ."""
    keys = {phrase_keys(t) for t in variants}
    return next(iter(keys)) if len(keys) == 1 else None


def _render(texts: list[str], names: list[tuple[str, ...]], rows: list[tuple], where: list[str]) -> list[str]:
    """Each text rendered with its row bound to its names, many per call (those sharing text,
    names and place); a failure is a config error naming the place."""
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(texts, names, where, strict=True)):
        groups.setdefault(key, []).append(i)
    out = [""] * len(texts)
    for (text, keys, at), members in groups.items():
        try:
            rendered = render_many(text, keys, [rows[i] for i in members])
        except Exception as exc:  # config checking renders every template; this is the last guard
            raise ConfigError(at, f"a template failed to render: {type(exc).__name__}: {exc}",
                              hint="fix the template or phrase; `datagen preview` checks a config") from None
        for i, r in zip(members, rendered, strict=True):
            out[i] = r
    return out


def render_phrases(encs: list[int], contexts: list[dict], picked: dict[int, dict[str, str]],
                    said: list[dict[str, str]], where: list[str]) -> list[dict[str, str]]:
    """Each note's phrases: plain text as is, a template rendered with the note's context and its
    encounter's choices."""
    jobs = [(i, key) for i, phrases in enumerate(said) for key, text in phrases.items() if "{" in text]
    names, rows = [], []
    for i, _ in jobs:
        context, choice = contexts[i], picked[encs[i]]
        names.append((*context, *choice))
        rows.append((*context.values(), *choice.values()))
    rendered = _render([said[i][key] for i, key in jobs], names, rows, [where[i] for i, _ in jobs])
    out = [dict(phrases) for phrases in said]
    for (i, key), text in zip(jobs, rendered, strict=True):
        out[i][key] = text
    return out


def render_notes(encs: list[int], contexts: list[dict], picked: dict[int, dict[str, str]], templates: list[str],
                  phrases: list[dict[str, str]], authors: list[str], where: list[str]) -> list[str]:
    """Each note's text: its template rendered with its context, its encounter's choices, its
    phrases (those opening a sentence capitalised) and its author."""
    names, rows = [], []
    known: dict[int, tuple[str, ...]] = {}  # names by encounter
    for e, context, template, said, author in zip(encs, contexts, templates, phrases, authors, strict=True):
        choice = picked[e]
        if e not in known:
            known[e] = (*context, *choice, "phrases", "author")
        names.append(known[e])
        rows.append((*context.values(), *choice.values(), _sentence_case(template, said), author))
    return [text.strip() for text in _render(templates, names, rows, where)]


@cache
def _initial_phrases(template: str) -> tuple[str, ...]:
    """Phrases that open a sentence in `template`: at a line start or after '. ', ': ', '? ' or '! '."""
    return tuple(re.findall(r"(?:^|[.:?!] )\{\{-? *phrases\.([a-z_][a-z0-9_]*)", template, re.MULTILINE))


def _sentence_case(template: str, phrases: dict) -> dict:
    """Capitalise phrases that open a sentence; words with capitals inside (pH, hs-Troponin) keep their case."""
    for key in _initial_phrases(template):
        text = phrases[key]
        if not isinstance(text, str):
            continue
        word = text.split(" ", 1)[0]
        if text[:1].islower() and word[1:] == word[1:].lower():
            phrases[key] = text[0].upper() + text[1:]
    return phrases
