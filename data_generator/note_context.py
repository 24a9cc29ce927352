"""What a note template may use: the names the note engine puts in its context, the sandbox
templates render in, and the phrases a template asks for.

The note engine (generators/notes.py) renders with these, and the config cross-check
(crosscheck.py) checks every template and phrase against them when config loads; both import
them from here, so checking a config needs nothing from the engine.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Callable
from functools import cache
from operator import itemgetter
from types import MethodType

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOTE_CONTEXT = ("patient", "encounter", "first", "latest", "worst", "lab", "note_day", "vitals_line", "labs_line",
                "phrases", "author", "shift")  # every template sees these (config cross-checks templates against them)


_HELPERS: set = set()  # the engine functions templates call directly


def helper(function):
    """Mark an engine function templates call (vitals_line, labs_line) as safe to call directly."""
    _HELPERS.add(function)
    return function


_DICT_ATTRIBUTES = frozenset(dir(dict))
_SCOPES = frozenset({"_block_vars", "_loop_vars"})  # what Jinja passes a call besides its arguments


class NoteSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with two shortcuts that change no outcome: `d.key` on a plain
    dict reads the item when dict has no such attribute (where the sandbox ends up after the
    attribute lookup fails), and a call of a function marked `helper` skips the checks that a
    known-safe engine function passes anyway. Everything else goes through the sandbox's checks."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        if type(__obj) is MethodType and __obj.__func__ in _HELPERS:
            if kwargs.keys() <= _SCOPES:
                return __obj(*args)
            return __obj(*args, **{k: v for k, v in kwargs.items() if k not in _SCOPES})
        return super().call(__context, __obj, *args, **kwargs)


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox templates render in. They see the note context and nothing else: Jinja's
    default globals (range, dict, lipsum, ...) are removed, as config cross-checking rejects a
    template naming them anyway, and so each render need not copy them."""
    env = NoteSandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=False, keep_trailing_newline=False)
    env.globals.clear()
    return env


@cache
def template(text: str):
    """`text` compiled once in the sandbox."""
    return _compiled(text)


_CODE: dict[str, bytes] = {}  # template source -> its compiled code, marshalled


def _compiled(source: str):
    """What `environment().from_string(source)` gives, from code compiled once per source (in
    this process, or kept with a checked config: `compiled_code`, `use_compiled_code`)."""
    env = environment()
    kept = _CODE.get(source)
    if kept is None:
        code = env.compile(source)
        _CODE[source] = marshal.dumps(code)
    else:
        code = marshal.loads(kept)
    return env.template_class.from_code(env, code, env.make_globals(None))


def compiled_code() -> dict[str, bytes]:
    """The code of every template compiled so far, by source (marshalled: for this Python only)."""
    return dict(_CODE)


def use_compiled_code(code: dict[str, bytes]) -> None:
    """Take templates' code compiled earlier (`compiled_code` of a run of the same Python, Jinja2
    and package) instead of compiling them again."""
    _CODE.update(code)


def render_many(text: str, names: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """`text` rendered in the sandbox once per row, the row's values bound to `names`: what
    `template(text).render(dict(zip(names, row)))` gives each row, in one call where it can (a
    loop over the rows in one compiled template, each rendering ended by a NUL) and row by row
    where it cannot (a text that sets variables or names `loop`, or a value holding a NUL). The
    loop binds only the names the text uses, so texts are compiled once whatever else a row
    holds (config checking compiles them; the note engine reuses them)."""
    plan = _plan(text, names)
    if plan is not None and rows:
        looped, pick = plan
        out = looped.render(_rows=[pick(row) for row in rows]).split(_END)
        if len(out) == len(rows) + 1:
            return out[:-1]
    single = template(text)
    return [single.render(dict(zip(names, row, strict=True))) for row in rows]


_END = "\x00"
_LAST_NEWLINE = re.compile(r"(?:\r\n|\r|\n)\Z")  # the one trailing newline a render drops (keep_trailing_newline)
_SCOPED = (nodes.Assign, nodes.AssignBlock, nodes.Macro, nodes.CallBlock, nodes.Block, nodes.Extends,
           nodes.Include, nodes.Import, nodes.FromImport)  # what a loop body would scope differently


@cache
def _analysis(text: str) -> tuple[str, frozenset[str], bool] | None:
    """(the text as a render reads it, the names it uses without setting them, whether one loop
    renders it as one render per row would), or None where it does not parse."""
    body = _LAST_NEWLINE.sub("", text, count=1)
    try:
        tree = environment().parse(body)
    except TemplateSyntaxError:
        return None
    wanted = frozenset(meta.find_undeclared_variables(tree))
    return body, wanted, _END not in body and "loop" not in wanted and next(tree.find_all(_SCOPED), None) is None


@cache
def value_uses(text: str, name: str, helper: str) -> tuple[frozenset[str], bool] | None:
    """How `text` uses the context value `name`: the attributes it reads of it (`name.x`) and
    whether it tests its truth (the whole test of an `if`); passing it as the one argument of a
    call of the context's function `helper` reads nothing of it. None where the text may read it
    otherwise (its items, its text, through a filter...), does not parse, or sets the name or the
    helper."""
    found = _analysis(text)
    if found is None:
        return None
    body, wanted, _ = found
    if name not in wanted:
        return frozenset(), False
    calls = helper in wanted
    attributes, truth = set(), False
    for node, parent in _nodes(environment().parse(body)):
        if not isinstance(node, nodes.Name) or node.name not in (name, helper):
            continue
        if node.ctx != "load":
            return None
        if node.name != name:
            continue
        if isinstance(parent, nodes.Getattr) and parent.node is node:
            attributes.add(parent.attr)
        elif isinstance(parent, nodes.If) and parent.test is node:
            truth = True
        elif not (calls and _helper_call(parent, node, helper)):
            return None
    return frozenset(attributes), truth


def _helper_call(parent: nodes.Node | None, node: nodes.Name, helper: str) -> bool:
    """Whether `parent` calls `helper` with `node` as its one argument."""
    return (isinstance(parent, nodes.Call) and isinstance(parent.node, nodes.Name) and parent.node.name == helper
            and len(parent.args) == 1 and parent.args[0] is node
            and not parent.kwargs and parent.dyn_args is None and parent.dyn_kwargs is None)


def _nodes(node: nodes.Node, parent: nodes.Node | None = None):
    """Every node of a template's tree, with its parent."""
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _nodes(child, node)


def template_names(text: str) -> frozenset[str]:
    """The names a template uses without setting them (a syntax error raises TemplateSyntaxError)."""
    found = _analysis(text)
    if found is None:
        environment().parse(text)  # raises the error
    return found[1]


@cache
def _plan(text: str, names: tuple[str, ...]):
    """(the loop template, a function picking the names it binds from a row), or None where a
    loop could render differently from one render per row."""
    found = _loop(text, names)
    if found is None:
        return None
    looped, used = found
    where = {name: i for i, name in enumerate(names)}  # the last of a repeated name, as dict(zip()) keeps
    if used:
        return looped, itemgetter(*(where[name] for name in used))  # one name: the value itself
    return looped, (lambda row: None)


@cache
def _loop(text: str, names: tuple[str, ...]) -> tuple[object, tuple[str, ...]] | None:
    """(the loop template, the names of `names` it binds, in the order it unpacks them), or None
    where a loop could render differently from one render per row."""
    found = _analysis(text)
    if found is None or not found[2]:
        return None
    body, wanted, _ = found
    used = tuple(sorted(wanted & set(names)))
    looped = _looped(body, used)
    return None if looped is None else (looped, used)


def render_table(text: str, names: tuple[str, ...], column: Callable[[str], list], n: int) -> list[str]:
    """What `render_many(text, names, rows)` gives for `n` rows whose values come by name:
    `column(name)` is that name's value in each row. Only the names the text uses are asked for
    where one loop renders the rows."""
    found = _loop(text, names) if n else None
    if found is not None:
        looped, used = found
        if len(used) > 1:
            rows = list(zip(*(column(name) for name in used), strict=True))
        else:
            rows = column(used[0]) if used else [None] * n
        out = looped.render(_rows=rows).split(_END)
        if len(out) == n + 1:
            return out[:-1]
    return render_many(text, names, list(zip(*(column(name) for name in names), strict=True)) if n else [])


@cache
def _looped(body: str, used: tuple[str, ...]):
    """`body` in a loop over `_rows`, each row unpacked into `used` (or bound to the one name)."""
    try:
        return _compiled(f"{{% for {', '.join(used) or '_'} in _rows %}}{body}{_END}{{% endfor %}}")
    except TemplateSyntaxError:  # a name that is a keyword
        return None


@cache
def phrase_keys(template: str) -> tuple[str, ...]:
    """The phrases a note template uses, in order of first use."""
    return tuple(dict.fromkeys(re.findall(r"phrases\.([a-z_][a-z0-9_]*)", template)))


VITAL_KEYS = ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "temp_c", "o2_device", "fio2",
              "consciousness", "pain_score")  # what first / latest / worst may hold
WORST_HIGH = ("temp_c", "heart_rate", "resp_rate")
WORST_LOW = ("sbp", "map", "spo2")
LAB_RESULT = ("name", "unit", "flag", "value", "text", "pending", "drawn", "current")  # each `lab` entry


def example_contexts(notes: dict, labs: dict) -> list[dict]:
    """Two note contexts shaped as the note engine builds them (a test holds the shapes to the
    engine's): one mid-stay with every vital and lab charted and an earlier stay, and one at
    arrival of a first stay with nothing charted yet. Config checking renders every template
    and phrase against both, so an unknown attribute or a sandbox violation is found at load."""
    charted = {"heart_rate": 88, "resp_rate": 18, "sbp": 124, "dbp": 72, "map": 89, "spo2": 96, "temp_c": 37.1,
               "o2_device": next(iter(notes["o2_devices"])), "fio2": 0.21,
               "consciousness": "A", "pain_score": 2}
    lab = {name: dict(zip(LAB_RESULT, (spec["name"], spec["unit"], "N", None if spec.get("categorical") else 1.0,
                                       "No growth to date" if spec.get("categorical") else None, False, 0, True),
                          strict=True))
           for name, spec in labs["tests"].items()}
    sex = next(iter(notes["sex_words"].values()))
    patient = {"age": 60, **sex, "comorbidities": ["hypertension"]}
    encounter = {"dx_code": "A41.9", "dx_desc": "Sepsis, unspecified organism", "scenario": "Sepsis",
                 "outcome": "recovers", "care_unit": "MED-WARD",
                 "disposition_text": next(iter(notes["dispositions"].values())), "los_days": "3.0",
                 "previous_stay": {"date": "2025-01-01", "scenario": "Sepsis"}}
    shift = {"name": "day", "start": "07:00", "end": "19:00"}

    def line(_: dict) -> str:
        return "charted"
    full = {"patient": patient, "encounter": encounter, "first": charted, "latest": charted,
            "worst": {k: charted[k] for k in WORST_HIGH + WORST_LOW}, "lab": lab, "note_day": 3, "shift": shift,
            "vitals_line": line, "labs_line": line}
    first_minutes = {**full, "encounter": {**encounter, "previous_stay": None}, "first": {}, "latest": {},
                     "worst": {}, "lab": {}, "note_day": 1}
    return [full, first_minutes]
