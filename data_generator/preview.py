"""A picture of one scenario: n simulated encounters' vitals and key labs over their stay.

For checking a scenario's shape while writing its YAML. The generator's own steps (registry
-> encounters -> physiology -> vitals -> labs) run in memory for that scenario alone, so the
picture is exactly what a day would contain; nothing under data/ and no patient registry is
read or written, only the PNG. Each vitals and labs panel has one line per encounter, coloured
by outcome branch, and thin vertical markers at the median end of every phase of every
latent state; the top strip names those phases, branch by branch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from data_generator.config import Config
from data_generator.errors import OutputError, UsageError
from data_generator.generators.encounters import Encounters, generate_encounters
from data_generator.generators.labs import Labs
from data_generator.generators.physiology import Physiology, branch_states
from data_generator.generators.registry import derive_registry
from data_generator.generators.vitals import Vitals
from data_generator.pipeline import chart, with_seed
from data_generator.plotting import VITALS, log_axis, normal_band
from data_generator.rng import stream
from data_generator.timeutil import HOUR

FIGSIZE = (16.0, 20.0)  # inches; fixed so every preview has the same pixel size
DPI = 80
PALETTE = 256           # colours of the saved PNG (a palette image is a third of the size)
COLUMNS = 3
MIN_LABS = 4            # top up a scenario's own lab values with scheduled tests to this many
REGISTRY_PER_ENCOUNTER = 10  # registry size the preview derives, per simulated encounter
OPTIONAL_VITALS = ("pain_score",)  # drawn only when the scenario sets them
STATE_STYLES = ("-", "--", ":", "-.")
HOUR_TICKS = (0, 6, 12, 24, 48, 72, 120, 168, 240, 336, 480, 720, 1000)
SERIES, MARKER = "series", "phase"  # Line2D gids: one encounter's values / a phase end


@dataclass(frozen=True)
class Simulation:
    """n encounters of one scenario, with everything the generator derived for them."""

    scenario: str
    enc: Encounters
    phys: Physiology
    vitals: Vitals
    labs: Labs


@dataclass(frozen=True)
class PreviewResult:
    path: Path
    size: tuple[int, int]          # (width, height) in pixels
    branches: dict[str, int]       # encounters per outcome branch
    vital_lines: dict[str, int]    # vitals column -> encounter lines drawn
    lab_lines: dict[str, int]      # lab test -> encounter lines drawn
    figure: Figure = field(repr=False, compare=False)


def render_preview(cfg: Config, scenario: str, out: Path, *, n: int = 20,
                   seed: int | None = None) -> PreviewResult:
    """Simulate `n` encounters of `scenario` in memory and write their preview PNG to `out`."""
    if scenario not in cfg.scenarios:  # before anything is made of the name (it may be a path)
        raise UsageError("--scenario", "unknown scenario", found=scenario, hint=f"one of {sorted(cfg.scenarios)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise OutputError(str(out), "folder does not exist", hint="create it or choose another --out")
    sim = simulate(with_seed(cfg, seed), scenario, n)
    fig, vital_lines, lab_lines = draw_preview(cfg, sim)
    try:
        save_png(fig, out)
    except OSError as exc:
        raise OutputError(str(out), "cannot write the preview", found=exc.strerror) from None
    branches = {b: int(np.sum(sim.enc.outcome == b)) for b in cfg.scenarios[scenario]["outcomes"]}
    return PreviewResult(out, fig.canvas.get_width_height(), branches, vital_lines, lab_lines, fig)


def save_png(fig: Figure, out: Path) -> None:
    """A palette PNG with no metadata, so the same figure always gives the same bytes."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    image.quantize(colors=PALETTE, method=Image.Quantize.FASTOCTREE).save(out, format="png", optimize=True)


def simulate(cfg: Config, scenario: str, n: int) -> Simulation:
    """The generator's steps for `n` encounters of `scenario` only, on streams of their own."""
    if scenario not in cfg.scenarios:
        raise UsageError("scenario", "unknown scenario", found=scenario,
                         hint="choose one of " + ", ".join(sorted(cfg.scenarios)))
    if n < 1:
        raise UsageError("n", "must be 1 or more encounters", found=n)
    mix = {**cfg.generator["scenarios"], "weights": {scenario: 1.0}, "weekday": {}, "seasonal": {}}
    cfg = dataclasses.replace(cfg, generator={**cfg.generator, "scenarios": mix})
    per_day = cfg.generator["registry"]["new_patients_per_day"]
    date = cfg.start_date + dt.timedelta(days=-(-n * REGISTRY_PER_ENCOUNTER // per_day))
    seed, key = cfg.seed, ("preview", scenario, n)
    registry = derive_registry(cfg, date)
    enc = generate_encounters(cfg, date, registry, n, stream(seed, *key, "encounters"))
    phys, vitals, labs, _ = chart(cfg, date, enc, lambda step: stream(seed, *key, step))
    return Simulation(scenario, enc, phys, vitals, labs)


def key_labs(cfg: Config, scenario: str) -> list[str]:
    """The tests the scenario sets values for, topped up from its schedule (specific panels first)."""
    labs = cfg.scenarios[scenario].get("labs", {})
    tests = [t for t in labs.get("values", {}) if not cfg.labs["tests"][t].get("categorical")]
    panels = cfg.labs["panels"]
    for item in labs.get("schedule", []):
        for panel in sorted(item["panels"], key=lambda p: len(panels[p]["tests"])):
            for t in panels[panel]["tests"]:
                if len(tests) < MIN_LABS and t not in tests and not cfg.labs["tests"][t].get("categorical"):
                    tests.append(t)
    return tests


def preview_vitals(cfg: Config, scenario: str) -> list[str]:
    used = cfg.scenarios[scenario].get("vitals", {})
    return [v for v in VITALS if v not in OPTIONAL_VITALS or v in used]


def phase_ends(cfg: Config, sim: Simulation) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """branch -> state -> [(phase name, median end hour)] for the branches simulated."""
    out = {}
    for branch in _branches(cfg, sim):
        out[branch] = {}
        for state, spec in branch_states(cfg, sim.scenario, branch).items():
            hours = np.median(sim.phys.phase_bounds[f"{sim.scenario}/{branch}/{state}"][:, 1:], axis=0)
            out[branch][state] = [(p["name"], float(h)) for p, h in zip(spec["phases"], hours, strict=True)]
    return out


def _branches(cfg: Config, sim: Simulation) -> list[str]:
    return [b for b in cfg.scenarios[sim.scenario]["outcomes"] if np.any(sim.enc.outcome == b)]


def draw_preview(cfg: Config, sim: Simulation) -> tuple[Figure, dict[str, int], dict[str, int]]:
    """The figure, and the number of encounter lines in each vitals and labs panel."""
    vitals, labs = preview_vitals(cfg, sim.scenario), key_labs(cfg, sim.scenario)
    rows_v, rows_l = -(-len(vitals) // COLUMNS), -(-len(labs) // COLUMNS)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(1 + rows_v + rows_l, COLUMNS, height_ratios=[1.3] + [1.0] * (rows_v + rows_l))
    outcomes = list(cfg.scenarios[sim.scenario]["outcomes"])
    colour = {b: f"C{i}" for i, b in enumerate(outcomes)}
    ends = phase_ends(cfg, sim)
    style = {s: STATE_STYLES[i % len(STATE_STYLES)]
             for i, s in enumerate(dict.fromkeys(s for states in ends.values() for s in states))}
    xmax = float(np.max(sim.phys.los_hours))
    course = fig.add_subplot(grid[0, :])
    _draw_course(course, ends, colour, style, xmax)
    vital_lines, lab_lines = {}, {}
    for i, name in enumerate(vitals):
        ax = fig.add_subplot(grid[1 + i // COLUMNS, i % COLUMNS], sharex=course)
        ax.set_label(f"vitals/{name}")
        band = normal_band(cfg, name)
        if band:
            ax.axhspan(*band, color="0.9", zorder=0)
        vital_lines[name] = _draw_series(ax, sim, sim.vitals.enc, sim.vitals.hours,
                                         np.asarray(sim.vitals.table[name], dtype=float), colour)
        _finish(ax, VITALS[name], ends, colour, style)
    collected = (sim.labs.table["event_time"] - sim.enc.admit[sim.labs.enc]) / HOUR
    for i, test in enumerate(labs):
        spec = cfg.labs["tests"][test]
        ax = fig.add_subplot(grid[1 + rows_v + i // COLUMNS, i % COLUMNS], sharex=course)
        ax.set_label(f"labs/{test}")
        if "ref" in spec:
            ax.axhspan(*spec["ref"], color="0.9", zorder=0)
        if spec.get("scale") == "log":
            log_axis(ax)
        rows = sim.labs.test == test
        lab_lines[test] = _draw_series(ax, sim, sim.labs.enc[rows], collected[rows],
                                       np.asarray(sim.labs.table["value"][rows], dtype=float), colour,
                                       marker="o")
        if not lab_lines[test]:
            ax.text(0.5, 0.5, "no results:\nnot ordered by this scenario", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="0.4")
        _finish(ax, f"{spec['name']} ({spec['unit']})" if spec["unit"] else spec["name"], ends, colour, style)
    _legend(fig, cfg, sim, colour, style)
    fig.suptitle(f"{cfg.scenarios[sim.scenario]['title']} ({sim.scenario}): {len(sim.enc)} simulated "
                 f"encounters; grey bands = normal range (NEWS2 0 points / lab reference)", fontsize=13)
    return fig, vital_lines, lab_lines


def _draw_series(ax, sim: Simulation, owner: np.ndarray, hours: np.ndarray, values: np.ndarray,
                 colour: dict[str, str], marker: str | None = None) -> int:
    """One line per encounter with at least one value; returns how many were drawn."""
    drawn = 0
    for e in range(len(sim.enc)):
        mask = (owner == e) & ~np.isnan(values)
        if not mask.any():
            continue
        order = np.argsort(hours[mask], kind="stable")
        ax.plot(hours[mask][order], values[mask][order], color=colour[sim.enc.outcome[e]],
                lw=0.8, alpha=0.6, marker=marker, ms=2.5, gid=SERIES)
        drawn += 1
    return drawn


def _draw_course(ax, ends: dict, colour: dict[str, str], style: dict[str, str], xmax: float) -> None:
    """Each branch's latent states as bars of phases, named, ending at their median hour."""
    labels = []
    for branch, states in ends.items():
        for state, phases in states.items():
            y = len(labels)
            labels.append(f"{branch} · {state}")
            start = 0.0
            for k, (name, end) in enumerate(phases):
                ax.barh(y, max(end - start, 0.0), left=start, height=0.8, color=colour[branch],
                        alpha=0.25 + 0.2 * (k % 2), edgecolor="white", linestyle=style[state])
                ax.text(_midpoint(start, end), y, name, ha="center", va="center", fontsize=7.5, clip_on=True)
                start = end
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_title("Latent state phases by outcome branch (median phase ends)", fontsize=10)
    _hours_axis(ax, xmax)


def _midpoint(start: float, end: float) -> float:
    """Middle of [start, end] on the square-root hour axis."""
    return ((np.sqrt(start) + np.sqrt(end)) / 2) ** 2


def _hours_axis(ax, xmax: float) -> None:
    ax.set_xscale("function", functions=(lambda x: np.sqrt(np.maximum(x, 0)), np.square))
    ax.set_xlim(0, xmax)
    ax.set_xticks([t for t in HOUR_TICKS if t <= xmax])
    ax.set_xlabel("hours since admission (square-root scale)", fontsize=8)
    ax.tick_params(labelsize=8)


def _finish(ax, title: str, ends: dict, colour: dict[str, str], style: dict[str, str]) -> None:
    for branch, states in ends.items():
        for state, phases in states.items():
            for _, end in phases:
                ax.axvline(end, color=colour[branch], lw=0.8, ls=style[state], alpha=0.45, gid=MARKER)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    ax.xaxis.label.set_size(8)
    ax.set_xlabel("hours since admission", fontsize=8)


def _legend(fig: Figure, cfg: Config, sim: Simulation, colour: dict[str, str], style: dict[str, str]) -> None:
    handles = [Line2D([], [], color=colour[b], lw=2, label=f"{b} (n={int(np.sum(sim.enc.outcome == b))})")
               for b in _branches(cfg, sim)]
    handles += [Line2D([], [], color="0.3", lw=1, ls=ls, label=f"phase end: {state}")
                for state, ls in style.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=10)
