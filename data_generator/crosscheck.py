"""Second pass over a config that already matches its schemas: the cross-references.

Probabilities that must sum to 1, weights for scenarios that exist, triggers naming vitals,
labs and panels that exist, templates naming variables the engine provides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from data_generator.claims import TRANSFER, names_used
from data_generator.contracts import column_type, load_contract
from data_generator.errors import ConfigError
from data_generator.note_context import NOTE_CONTEXT, example_contexts, phrase_keys, render_many, template_names

TOLERANCE = 1e-6
NOTE_VARIABLES = set(NOTE_CONTEXT)
# Conditions may name any numeric column of the vitals contract.
TRIGGER_VITALS = {col for col, prop in load_contract("vitals")["properties"].items()
                  if column_type(prop) in ("integer", "number")}


def intervention_kinds(catalogue: dict) -> set[str]:
    """Treatment kinds a claim may name: the catalogue's treatments, its oxygen devices, transfers."""
    return set(catalogue["treatments"]) | set(catalogue["oxygen"]["devices"]) | {TRANSFER}


def _sums_to_one(values: dict, where: str) -> None:
    total = sum(float(v) for v in values.values())
    if abs(total - 1.0) > TOLERANCE:
        raise ConfigError(where, f"probabilities must sum to 1, they sum to {total:g}")


def _template_names(text: str, where: str) -> set[str]:
    try:
        return set(template_names(text))
    except TemplateSyntaxError as exc:
        raise ConfigError(where, f"template syntax error: {exc.message}") from None


def _check_condition(cond: dict, where: str, labs: dict) -> None:
    for i, term in enumerate(cond.get("any", cond.get("all", []))):
        if "vital" in term and term["vital"] not in TRIGGER_VITALS:
            raise ConfigError(f"{where}.{i}.vital", "unknown vital", found=term["vital"],
                              hint=f"use one of {sorted(TRIGGER_VITALS)}")
        if "lab" in term and term["lab"] not in labs["tests"]:
            raise ConfigError(f"{where}.{i}.lab", "unknown lab test", found=term["lab"],
                              hint="use a test name from the labs catalogue")


def _check_scenario(name: str, sc: dict, generator: dict, vitals: dict, labs: dict,
                    notes: dict, kinds: set[str]) -> None:
    f = sc["_file"]
    _sums_to_one(sc["acuity"], f"{f}: acuity")
    _sums_to_one({k: v["p"] for k, v in sc["outcomes"].items()}, f"{f}: outcomes.*.p")
    for branch, spec in sc["outcomes"].items():
        _sums_to_one(spec["disposition"], f"{f}: outcomes.{branch}.disposition")
        if "acuity" in spec:
            _sums_to_one(spec["acuity"], f"{f}: outcomes.{branch}.acuity")
        if spec["care_unit"] not in generator["care_units"]:
            raise ConfigError(f"{f}: outcomes.{branch}.care_unit", "unknown care unit",
                              found=spec["care_unit"], hint="add it under care_units in generator.yaml")
        los = spec["los_hours"]
        if not los["min"] <= los["median"] <= los["max"]:
            raise ConfigError(f"{f}: outcomes.{branch}.los_hours", "needs min <= median <= max")
    age = sc["population"]["age"]
    if age["min"] > age["max"]:
        raise ConfigError(f"{f}: population.age", "min is above max")
    states = set(sc.get("states", {}))
    for spec in sc["outcomes"].values():
        states |= set(spec.get("states", {}))
    for vital, spec in sc.get("vitals", {}).items():
        for state in spec.get("at", {}):
            if state not in states:
                raise ConfigError(f"{f}: vitals.{vital}.at.{state}", "unknown state",
                                  hint=f"declare it under states (known: {sorted(states)})")
    _check_variants(f, sc.get("variants", {}), states, labs, set(generator["registry"]["conditions"]))
    lab_spec = sc.get("labs", {})
    for test, spec in lab_spec.get("values", {}).items():
        cat = labs["tests"].get(test)
        if cat is None or "baseline" not in cat:
            raise ConfigError(f"{f}: labs.values.{test}", "unknown measured lab test",
                              hint="use a test name from the labs catalogue")
        for state, target in spec["at"].items():
            if state not in states:
                raise ConfigError(f"{f}: labs.values.{test}.at.{state}", "unknown state",
                                  hint=f"declare it under states (known: {sorted(states)})")
            if cat["scale"] == "log" and target <= 0:
                raise ConfigError(f"{f}: labs.values.{test}.at.{state}",
                                  "must be above 0 for a log-scale test", found=target)
    for i, item in enumerate(lab_spec.get("schedule", [])):
        for panel in item["panels"]:
            if panel not in labs["panels"]:
                raise ConfigError(f"{f}: labs.schedule.{i}.panels", "unknown panel", found=panel)
    ordered = {test for item in lab_spec.get("schedule", []) for panel in item["panels"]
               for test in labs["panels"].get(panel, {}).get("tests", [])}
    ordered |= {test for trig in lab_spec.get("triggers", []) for panel in trig["order"]
                for test in labs["panels"].get(panel, {}).get("tests", [])}
    for test in lab_spec.get("values", {}):
        if test not in ordered:
            raise ConfigError(f"{f}: labs.values.{test}", "is never ordered",
                              hint="add a panel containing it to labs.schedule or to a trigger's order")
    for i, trig in enumerate(lab_spec.get("triggers", [])):
        _check_condition(trig["when"], f"{f}: labs.triggers.{i}.when", labs)
        for panel in trig["order"]:
            if panel not in labs["panels"]:
                raise ConfigError(f"{f}: labs.triggers.{i}.order", "unknown panel", found=panel)
    lists = list(_phrase_lists(f, sc))
    allowed = NOTE_VARIABLES | {name for _, is_choice, name, _ in lists if is_choice}
    known = {"vital": TRIGGER_VITALS, "lab": set(labs["tests"]), "intervention": kinds,
             "outcome": set(sc["outcomes"]), "care_unit": set(generator["care_units"]),
             "o2_device": set(notes["o2_devices"]), "disposition": set(notes["dispositions"])}
    all_types = {**notes["note_types"], **sc.get("note_types", {})}
    _check_note_types(sc.get("note_types", {}), f"{f}: note_types", notes, labs, allowed)
    phrase_keys = {k for k in sc["notes"] if k != "choices"}
    for branch, spec in sc["outcomes"].items():
        phrase_keys_b = phrase_keys | (set(spec.get("notes", {})) - {"choices"})
        _check_phrase_use(all_types, phrase_keys_b, f"{f}: outcomes.{branch}.notes")
    for path, _, _, options in lists:
        _check_phrases(options, path, allowed, known)


def _phrase_lists(f: str, sc: dict) -> Iterator[tuple[str, bool, str, list]]:
    """Every phrase list and per-stay choice list of a scenario, its own and its branches':
    (key path, whether a choice, phrase key or choice name, variants)."""
    sources = [("notes", sc["notes"])]
    sources += [(f"outcomes.{b}.notes", o.get("notes", {})) for b, o in sc["outcomes"].items()]
    for where, source in sources:
        for key, variants in source.items():
            if key == "choices":
                for name, options in variants.items():
                    yield f"{f}: {where}.choices.{name}", True, name, options
            else:
                yield f"{f}: {where}.{key}", False, key, variants


def _check_variants(f: str, variants: dict, states: set[str], labs: dict, conditions: set[str]) -> None:
    """A variant's `at` values name known states and measured lab tests; its `conditions`, chronic
    conditions of the registry."""
    for name, spec in variants.items():
        for condition in spec.get("conditions", []):
            if condition not in conditions:
                raise ConfigError(f"{f}: variants.{name}.conditions", "unknown chronic condition", found=condition,
                                  hint="use a condition of registry.conditions in generator.yaml")
        for section in ("vitals", "labs"):
            for item, own in spec.get(section, {}).items():
                where = f"{f}: variants.{name}.{section}.{item}"
                if section == "labs" and "baseline" not in labs["tests"].get(item, {}):
                    raise ConfigError(where, "unknown measured lab test",
                                      hint="use a test name from the labs catalogue")
                for state in own.get("at", {}):
                    if state not in states:
                        raise ConfigError(f"{where}.at.{state}", "unknown state",
                                          hint=f"declare it under states (known: {sorted(states)})")


def _check_note_types(types: dict, where: str, notes: dict, labs: dict, allowed: set[str]) -> None:
    for note_type, spec in types.items():
        if spec["author"] not in notes["authors"]:
            raise ConfigError(f"{where}.{note_type}.author", "unknown author role", found=spec["author"])
        if "when" in spec["at"]:
            _check_condition(spec["at"]["when"], f"{where}.{note_type}.at.when", labs)
        _check_texts(spec["templates"], f"{where}.{note_type}.templates", allowed)


def _check_note_catalogue(notes: dict, labs: dict) -> None:
    """One author role works shifts (shift notes and the nurse rota use it); every lab unit has a display form."""
    shift_roles = [r for r, a in notes["authors"].items() if "shifts" in a["rota"]]
    if len(shift_roles) != 1:
        raise ConfigError("notes catalogue: authors", "exactly one author role needs a rota with shifts",
                          found=shift_roles)
    for note_type, spec in notes["note_types"].items():
        if "before_shift_end_hours" in spec["at"] and spec["author"] != shift_roles[0]:
            raise ConfigError(f"notes catalogue: note_types.{note_type}.author", "a shift note's author must "
                              "work shifts", found=spec["author"], hint=f"use {shift_roles[0]!r}")
    for test, spec in labs["tests"].items():
        if spec["unit"] not in notes["display_units"]:
            raise ConfigError("notes catalogue: display_units", f"no display form for unit {spec['unit']!r}",
                              found=test, hint="add the UCUM unit and how notes write it")


def _check_texts(variants: list[str], where: str, allowed: set[str]) -> None:
    for i, text in enumerate(variants):
        unknown = _template_names(text, f"{where}.{i}") - allowed
        if unknown:
            raise ConfigError(f"{where}.{i}", f"template uses unknown variable {sorted(unknown)[0]!r}",
                              hint=f"known: {sorted(allowed)}")


def _check_phrases(variants: list, where: str, allowed: set[str], known: dict[str, set[str]]) -> None:
    """Phrase variants: templates that resolve, claim conditions naming things that exist, and at
    least one unguarded variant to say when no claim holds."""
    _check_texts([v if isinstance(v, str) else v["text"] for v in variants], where, allowed)
    if all(isinstance(v, dict) for v in variants):
        raise ConfigError(where, "every variant has a `when:`; none is left to say when no claim holds",
                          hint="add a plain phrase that claims nothing checkable")
    for i, v in enumerate(variants):
        if isinstance(v, dict):
            for path, kind, name in names_used(v["when"], f"{where}.{i}.when"):
                if name not in known[kind]:
                    raise ConfigError(path, f"unknown {kind.replace('_', ' ')}", found=name,
                                      hint=f"use one of {sorted(known[kind])}")


def _phrases_used(types: dict) -> set[str]:
    """Names used as phrases.X in note-type templates."""
    return {key for spec in types.values() for text in spec["templates"] for key in phrase_keys(text)}


def _check_phrase_use(types: dict, provided: set[str], where: str) -> None:
    missing = _phrases_used(types) - provided
    if missing:
        raise ConfigError(where, f"no phrases for {sorted(missing)[0]!r}, which a note template uses",
                          hint="add it to the scenario's notes or to this branch's notes")


def check(path: Path, generator: dict, scenarios: dict[str, dict], vitals: dict,
          labs: dict, notes: dict[str, Any], interventions: dict[str, Any]) -> None:
    reg = generator["registry"]
    if reg["new_patients_per_day"] > reg["max_total"]:
        raise ConfigError(f"{path}: registry.new_patients_per_day",
                          f"is above registry.max_total ({reg['max_total']})",
                          found=reg["new_patients_per_day"])
    if reg["age"]["min"] > reg["age"]["max"]:
        raise ConfigError(f"{path}: registry.age", "min is above max")
    weights = generator["scenarios"]["weights"]
    for name in weights:
        if name not in scenarios:
            raise ConfigError(f"{path}: scenarios.weights.{name}", "no such scenario file",
                              hint=f"add {generator['scenarios']['directory']}/{name}.yaml or remove the weight")
    for name in scenarios:
        if name not in weights:
            raise ConfigError(f"{path}: scenarios.weights", f"scenario {name!r} has no weight",
                              hint="add one (0 disables it)")
    if not any(float(w) > 0 for w in weights.values()):
        raise ConfigError(f"{path}: scenarios.weights", "every weight is 0; at least one must be positive")
    for table in ("weekday", "seasonal"):
        for name in generator["scenarios"].get(table, {}):
            if name not in scenarios:
                raise ConfigError(f"{path}: scenarios.{table}.{name}", "no such scenario")
    for test, spec in labs["tests"].items():
        for part in spec.get("derive", {}):
            if part not in labs["tests"]:
                raise ConfigError(f"labs catalogue: tests.{test}.derive.{part}", "unknown test")
    for panel, spec in labs["panels"].items():
        for test in spec["tests"]:
            if test not in labs["tests"]:
                raise ConfigError(f"labs catalogue: panels.{panel}.tests", "unknown test", found=test)
    _check_note_types(notes["note_types"], "notes catalogue: note_types", notes, labs, NOTE_VARIABLES)
    _check_note_catalogue(notes, labs)
    for name, sc in scenarios.items():
        _check_scenario(name, sc, generator, vitals, labs, notes, intervention_kinds(interventions))
    _check_clips_inside_contract(vitals)
    _check_note_words(scenarios, notes, interventions)
    contexts = example_contexts(notes, labs)
    for sc in scenarios.values():
        _check_renders(sc, notes, contexts)


def _check_note_words(scenarios: dict[str, dict], notes: dict, interventions: dict) -> None:
    """The notes catalogue has words for every disposition a scenario can end in, every oxygen
    device the catalogue titrates (and room air) and both sexes."""
    ends = {d for sc in scenarios.values() for o in sc["outcomes"].values() for d in o["disposition"]}
    needed = {"dispositions": ends,
              "o2_devices": {"room_air", *interventions["oxygen"]["devices"]}, "sex_words": {"F", "M"}}
    for key, names in needed.items():
        missing = sorted(names - set(notes[key]))
        if missing:
            raise ConfigError(f"notes catalogue: {key}", "has no words for a value the generator uses",
                              found=missing[0], hint=f"add {missing[0]!r} under {key}")


def _check_clips_inside_contract(vitals: dict) -> None:
    """A vital's `clip` bounds lie inside its contract's minimum and maximum, so a config edit can
    never make the generator chart a value its own contract refuses."""
    props = load_contract("vitals")["properties"]
    for name, spec in vitals["vitals"].items():
        prop = props.get(name, {})
        lo, hi = spec["clip"]
        if ("minimum" in prop and lo < prop["minimum"]) or ("maximum" in prop and hi > prop["maximum"]):
            raise ConfigError(f"vitals catalogue: vitals.{name}.clip", "reaches outside the vitals contract",
                              found=spec["clip"], hint=f"keep it within [{prop.get('minimum')}, {prop.get('maximum')}]")


def _check_renders(sc: dict, notes: dict, contexts: list[dict]) -> None:
    """Render every template a note of this scenario may use (the catalogue's note types, the
    scenario's own, its phrases and choices) against example contexts in the sandbox: an unknown
    attribute, a sandbox violation or a failing filter is a config error here, before anything
    is generated, not a traceback at render time."""
    f = sc.get("_file", "scenario")
    choices, phrases, texts = {}, {}, []
    for path, is_choice, name, options in _phrase_lists(f, sc):
        for i, v in enumerate(options):
            text = v if isinstance(v, str) else v["text"]
            texts.append((f"{path}.{i}", text))
            (choices if is_choice else phrases).setdefault(name, text)
    for owner, types in (("notes catalogue", notes["note_types"]), (f, sc.get("note_types", {}))):
        for note_type, spec in types.items():
            texts += [(f"{owner}: note_types.{note_type}.templates.{i}", t) for i, t in enumerate(spec["templates"])]
    if clash := sorted(set(choices) & set(NOTE_CONTEXT)):
        raise ConfigError(f"{f}: notes.choices.{clash[0]}", "a choice is named like a note context variable",
                          found=clash[0], hint=f"rename it; templates already see {', '.join(NOTE_CONTEXT)}")
    rows = [{**context, **choices, "phrases": phrases, "author": "Dr Example"} for context in contexts]
    names = tuple(rows[0])
    rows = [tuple(row[k] for k in names) for row in rows]
    for where, text in texts:
        if "{" not in text:
            continue
        try:
            render_many(text, names, rows)  # as the note engine renders (and compiles it for the engine)
        except Exception as exc:  # noqa: BLE001 - any failure of a render is the template's
            raise ConfigError(where, f"template fails to render: {type(exc).__name__}: {exc}",
                              hint="check attribute names against docs/scenarios.md (note context)") from None


def check_interventions(generator: dict, scenarios: dict[str, dict], vitals: dict, labs: dict,
                        catalogue: dict) -> None:
    """Treatment effects name vitals and labs that exist; ladders name catalogue devices;
    transfers name care units that exist; every kind can be written to interventions.csv."""
    where = "interventions catalogue"
    units = generator["care_units"]
    kinds = set(load_contract("interventions")["properties"]["kind"]["enum"])
    for name, spec in catalogue["treatments"].items():
        for vital in spec.get("vitals", {}):
            if vital not in vitals["vitals"]:
                raise ConfigError(f"{where}: treatments.{name}.vitals.{vital}", "unknown vital",
                                  hint=f"use one of {sorted(vitals['vitals'])}")
        for key in ("labs", "labs_per_hour"):
            for test in spec.get(key, {}):
                if test not in labs["tests"] or "baseline" not in labs["tests"][test]:
                    raise ConfigError(f"{where}: treatments.{name}.{key}.{test}", "unknown measured lab test")
    blood = catalogue["treatments"]["red_cells"]
    if blood["trigger_test"] not in blood["labs"]:
        raise ConfigError(f"{where}: treatments.red_cells.trigger_test", "is not among the tests red cells raise",
                          found=blood["trigger_test"], hint=f"use one of {sorted(blood['labs'])}")
    for name in [*catalogue["treatments"], *catalogue["oxygen"]["devices"]]:
        if name not in kinds:
            raise ConfigError(f"{where}: {name}", "not a kind of interventions.csv",
                              hint="add it to the kind enum of schemas/interventions.schema.json")
    devices = catalogue["oxygen"]["devices"]
    for key in ("default_ladder", "critical_care_devices"):
        for device in catalogue["oxygen"][key]:
            if device not in devices:
                raise ConfigError(f"{where}: oxygen.{key}", "device not in oxygen.devices", found=device)
    for unit in catalogue["critical_care_units"]:
        if unit not in units:
            raise ConfigError(f"{where}: critical_care_units", "unknown care unit", found=unit,
                              hint="add it under care_units in generator.yaml")
    for sc in scenarios.values():
        _check_scenario_interventions(sc, units, catalogue, labs)


def _check_scenario_interventions(sc: dict, units: dict, catalogue: dict, labs: dict) -> None:
    f, spec = sc["_file"], sc.get("interventions", {})
    for device in spec.get("oxygen", {}).get("ladder", []):
        if device not in catalogue["oxygen"]["devices"]:
            raise ConfigError(f"{f}: interventions.oxygen.ladder", "device not in the catalogue",
                              found=device, hint="add it under oxygen.devices in interventions.yaml")
    move = spec.get("transfer")
    if move:
        if move["icu"] not in catalogue["critical_care_units"]:
            raise ConfigError(f"{f}: interventions.transfer.icu", "not a critical-care unit",
                              found=move["icu"], hint="use one of critical_care_units in interventions.yaml")
        down = move.get("step_down", {}).get("to")
        if down is not None and (down not in units or down in catalogue["critical_care_units"]):
            raise ConfigError(f"{f}: interventions.transfer.step_down.to", "not a ward care unit",
                              found=down, hint="use a unit under care_units that is not critical care")
    for i, rule in enumerate(spec.get("infusions", [])):
        for key in ("start_when", "stop_when"):
            _check_condition(rule[key], f"{f}: interventions.infusions.{i}.{key}", labs)
    if "antibiotics" in spec and spec["antibiotics"]["after_panel"] not in labs["panels"]:
        raise ConfigError(f"{f}: interventions.antibiotics.after_panel", "unknown panel",
                          found=spec["antibiotics"]["after_panel"])
    blood = spec.get("transfusion")
    if blood and blood["target_hb"] < blood["hb_below"]:
        raise ConfigError(f"{f}: interventions.transfusion.target_hb", "is below hb_below",
                          found=blood["target_hb"])
