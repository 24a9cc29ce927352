"""What a note template may use: the names the note engine puts in its context, the sandbox
templates render in, and the phrases a template asks for.

The note engine (generators/notes.py) renders with these, and the config cross-check
(crosscheck.py) checks every template and phrase against them when config loads; both import
them from here, so checking a config needs nothing from the engine.
"""

from __future__ import annotations

import re
from functools import cache

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOTE_CONTEXT = ("patient", "encounter", "first", "latest", "worst", "lab", "note_day", "vitals_line", "labs_line",
                "phrases", "author", "shift")  # every template sees these (config cross-checks templates against them)


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox templates render in. They see the note context and nothing else: Jinja's
    default globals (range, dict, lipsum, ...) are removed, as config cross-checking rejects a
    template naming them anyway, and so each render need not copy them."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                        trim_blocks=False, keep_trailing_newline=False)
    env.globals.clear()
    return env


@cache
def phrase_keys(template: str) -> tuple[str, ...]:
    """The phrases a note template uses, in order of first use."""
    return tuple(dict.fromkeys(re.findall(r"phrases\.([a-z_][a-z0-9_]*)", template)))
