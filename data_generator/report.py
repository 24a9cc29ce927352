"""A self-contained HTML report of one published day: what it holds, and whether it is valid.

Reads the day's five files (CSV/JSONL as published, or Parquet copies of them) through the day
reader (data_generator/reading.py, typed as `load_day` gives them) and writes one
HTML file with every plot embedded as a base64 PNG: encounter mix, length of stay, vitals and
key labs per scenario against their normal ranges, NEWS2, notes per type, and the contract
status (the manifest and a fresh validation). The report goes beside the day folder
(`<folder>.report.html`), because a day folder holds only its contracted files and manifest.

Every plot is drawn as wide as the page's text (WIDTH_PX) at 72 dpi and shown at that size, so
a font size in points is its height in screen pixels; every axis is labelled.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from data_generator import news2
from data_generator.config import DEFAULT_CONFIG, Config, load_config
from data_generator.contracts import FILES
from data_generator.errors import ContractError, OutputError, UsageError
from data_generator.plotting import VITALS, log_axis, normal_band
from data_generator.publish import MANIFEST
from data_generator.reading import is_feed_day, load_table, table_file
from data_generator.validation import validate_day, validate_feed_day

TABLES = FILES
WIDTH_PX = 1200  # the page's text width; every plot is drawn this wide and shown at its own size
DPI = 72  # one point is one pixel: a font size in points is its height on screen
FONTS = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 12}  # points (= pixels at DPI 72)
PANEL_PX = 340  # height of one row of small multiples
COLUMNS = 3
SHOW_VIOLATIONS = 20
STYLE = f"""body{{font-family:sans-serif;margin:2em auto;padding:0 2em;max-width:{WIDTH_PX}px;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1em}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
th{{background:#f0f0f0}}td.name{{text-align:left}}.ok{{color:#176a1f;font-weight:bold}}
.problem{{color:#b00020;font-weight:bold}}img{{display:block;max-width:100%;height:auto}}
pre{{background:#f6f6f6;padding:0.5em}}"""


def render_report(folder: Path, out: Path | None = None, *, config: Path | str = DEFAULT_CONFIG) -> Path:
    """Write the HTML report of the day in `folder` (default `<folder>.report.html`); return its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(str(folder), "no such day folder", hint="generate the day first")
    out = Path(out) if out is not None else folder.with_name(folder.name + ".report.html")
    cfg = load_config(config)
    data = read_day(folder)
    if data.get("encounters") is None:
        raise UsageError(str(folder), "no encounters file (encounters.csv or encounters.parquet)")
    sections = [_contract(folder, cfg)] + [_guarded(draw, cfg, data) for draw in DRAWN]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Day report: {_e(folder.name)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>Day report: {_e(folder.name)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n")
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise OutputError(str(out), "cannot write the report", found=exc.strerror) from None
    return out


def read_day(folder: Path) -> dict[str, pd.DataFrame | None]:
    """Each of the five tables as the day reader types it (None if absent), a cell that does not
    parse left out. A table that cannot be read at all is kept as its error, raised when a section
    reads it: that section says so and the others are still drawn (the contract status names the
    problem)."""
    data = _Tables()
    for name in TABLES:
        if not table_file(folder, name).is_file():
            data[name] = None
            continue
        try:
            data[name] = load_table(folder, name, errors="coerce")  # a damaged cell is left out
        except ContractError as exc:
            data[name] = exc
    return data


class _Tables(dict):
    """Tables by name; looking up one that could not be read raises its ContractError."""

    def __getitem__(self, name: str):
        value = super().__getitem__(name)
        if isinstance(value, ContractError):
            raise value
        return value


# ---------------------------------------------------------------- sections

def _contract(folder: Path, cfg: Config) -> str:
    report = validate_feed_day(folder) if is_feed_day(folder) else validate_day(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if report.ok:
        status = '<p class="ok" id="contract-status">Contract status: ok (every row meets its contract; ' \
                 'files match the manifest)</p>'
    else:
        total = sum(report.counts.values())
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(report.counts.items()))
        status = f'<p class="problem" id="contract-status">Contract status: FAILED, {total} violations ({rules})</p>'
    files = manifest.get("files", {}) if isinstance(manifest.get("files"), dict) else {}
    rows = [[name, info.get("rows"), info.get("bytes"), info.get("sha256")] for name, info in sorted(files.items())]
    about = ", ".join(f"{k}: {manifest[k]}" for k in ("batch_date", "mode", "seed", "generator_version")
                      if k in manifest)
    digest = manifest.get("config_digest")
    same = "" if digest in (None, cfg.digest) else (
        f"<p>Note: this day was generated with a config (digest {_e(digest[:12])}) other than "
        f"{_e(cfg.path)}, whose ranges and NEWS2 bands this report uses.</p>")
    return (f'<h2 id="contract">Contract</h2>\n{status}\n<p>{_e(about)}</p>\n{same}'
            f"<h3>Manifest</h3>\n{_table(['file', 'rows', 'bytes', 'sha256'], rows, 'manifest')}"
            f"<h3>Validation</h3>\n<pre>{_e(chr(10).join(report.summary(SHOW_VIOLATIONS)))}</pre>")


def _guarded(draw, cfg: Config, data) -> str:
    """One data section, its plots in the report's fonts; a file too broken to read (see the
    contract status) gives a note, not a crash."""
    try:
        with rc_context(FONTS):
            return draw(cfg, data)
    except (KeyError, ValueError, TypeError, ContractError) as exc:
        title = draw.__name__.strip("_")
        return (f'<h2 id="{title}">{_e(title)}</h2>\n<p class="problem">Cannot draw this section from the '
                f"day's files ({_e(type(exc).__name__)}: {_e(exc)}); see the contract status above.</p>")


def _mix(cfg: Config, data) -> str:
    enc = data["encounters"]
    counts = {col: enc[col].value_counts().sort_index() for col in ("scenario", "acuity", "discharge_disposition")}
    fig = _figure(PANEL_PX * 1.2)
    for ax, (col, series) in zip(fig.subplots(1, 3), counts.items(), strict=True):
        ax.barh([str(k) for k in series.index], series.to_numpy(), color="C0")
        ax.invert_yaxis()
        _counts(ax.xaxis, "encounters")
        ax.set_ylabel(col.replace("_", " "))
    tables = "".join(f"<h3>By {col}</h3>\n" + _table([col, "encounters"], list(series.items()), f"by-{col}")
                     for col, series in counts.items())
    return f'<h2 id="encounters">Encounters ({len(enc)})</h2>\n{_img(fig)}\n{tables}'


def _stay(cfg: Config, data) -> str:
    enc = data["encounters"].assign(
        los_days=lambda f: (f["discharge_time"] - f["admit_time"]).dt.total_seconds() / 86400)
    groups = _by_scenario(enc, "los_days")
    fig = _figure(PANEL_PX * 1.2)
    hist, box = fig.subplots(1, 2)
    hist.hist(enc["los_days"], bins=30, color="C0")
    hist.set_xlabel("length of stay (days)")
    _counts(hist.yaxis, "encounters")
    _boxes(box, groups, vertical=False)
    box.set_xlabel("length of stay (days)")
    rows = [[name, len(v), f"{np.median(v):.1f}", f"{np.quantile(v, 0.9):.1f}"] for name, v in groups.items()]
    return (f'<h2 id="length-of-stay">Length of stay</h2>\n{_img(fig)}\n'
            + _table(["scenario", "encounters", "median days", "90th centile days"], rows, "los"))


def _vitals(cfg: Config, data) -> str:
    vit = _with_scenario(data["vitals"], data["encounters"])
    if vit is None:
        return '<h2 id="vitals">Vitals</h2>\n<p>No vitals file.</p>'
    names = [v for v in VITALS if v in vit]
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names, strict=False):
        band = normal_band(cfg, name)
        if band:
            ax.axhspan(*band, color="0.88", zorder=0)
        _boxes(ax, _by_scenario(vit, name))
        ax.set_ylabel(VITALS[name])
    return ('<h2 id="vitals">Vitals by scenario</h2>\n<p>Every charted value; grey band: the range NEWS2 '
            f'scores 0 (vitals catalogue).</p>\n{_img(fig)}')


def _labs(cfg: Config, data) -> str:
    labs = _with_scenario(data["labs"], data["encounters"])
    if labs is None:
        return '<h2 id="labs">Labs</h2>\n<p>No labs file.</p>'
    tests = key_tests(cfg, labs)
    fig, axes = _grid(len(tests))
    for ax, (loinc, spec) in zip(axes, tests.items(), strict=False):
        rows = labs[labs["loinc_code"].astype(str) == loinc]
        low, high = rows["ref_low"].dropna(), rows["ref_high"].dropna()
        if len(low) and len(high):
            ax.axhspan(low.iloc[0], high.iloc[0], color="0.88", zorder=0)
        if spec.get("scale") == "log":
            log_axis(ax)
        _boxes(ax, _by_scenario(rows, "value"))
        unit = rows["unit"].dropna()
        ax.set_ylabel(f"{spec['name']} ({unit.iloc[0]})" if len(unit) and unit.iloc[0] else spec["name"])
    return ('<h2 id="labs">Key labs by scenario</h2>\n<p>Tests that some scenario sets values for; grey band: '
            f'the reference range in labs file (ref_low, ref_high).</p>\n{_img(fig)}')


def key_tests(cfg: Config, labs: pd.DataFrame) -> dict[str, dict]:
    """LOINC -> catalogue entry for every test a scenario sets values for and the day has results of."""
    wanted = {t for sc in cfg.scenarios.values() for t in sc.get("labs", {}).get("values", {})}
    present = set(labs.loc[labs["value"].notna(), "loinc_code"].astype(str))
    return {spec["loinc"]: spec for name, spec in cfg.labs["tests"].items()
            if name in wanted and spec["loinc"] in present}


def _news2(cfg: Config, data) -> str:
    vit = _with_scenario(data["vitals"], data["encounters"])
    if vit is None:
        return '<h2 id="news2">NEWS2</h2>\n<p>No vitals file.</p>'
    table = {col: vit[col].to_numpy(dtype=float, na_value=np.nan) for col in cfg.vitals["news2"]["bands"]}
    for col in ("o2_device", "consciousness"):
        table[col] = np.array([None if pd.isna(v) else v for v in vit[col]], dtype=object)
    scale2 = news2.uses_scale2(cfg.scenarios, vit["scenario"].to_numpy())
    vit = vit.assign(news2=news2.score(table, cfg.vitals["news2"], scale2))
    worst = vit.groupby("encounter_id").agg(news2=("news2", "max"), scenario=("scenario", "first"))
    fig = _figure(PANEL_PX * 1.2)
    hist, box = fig.subplots(1, 2)
    counts = vit["news2"].value_counts().sort_index()
    hist.bar(counts.index, counts.to_numpy(), color="C0")
    _counts(hist.xaxis, "NEWS2 of each charted set")
    _counts(hist.yaxis, "charted sets")
    _boxes(box, _by_scenario(worst, "news2"), vertical=False)
    _counts(box.xaxis, "highest NEWS2 per encounter")
    threshold = cfg.generator["charting"]["escalate_at_news2"]
    high = vit.groupby("scenario")["news2"].agg(sets="size", high=lambda s: int((s >= threshold).sum()))
    rows = [[name, int(r.sets), int(r.high), f"{r.high / r.sets:.0%}"] for name, r in high.iterrows()]
    return (f'<h2 id="news2">NEWS2</h2>\n{_img(fig)}\n'
            + _table(["scenario", "charted sets", f"sets with NEWS2 ≥ {threshold}", "share"], rows, "news2")
            + f"<p>{threshold} is <code>charting.escalate_at_news2</code>, where charting escalates.</p>")


def _notes(cfg: Config, data) -> str:
    notes = data["notes"]
    if notes is None:
        return '<h2 id="notes">Notes</h2>\n<p>No notes file.</p>'
    counts = notes["note_type"].value_counts().sort_index()
    fig = _figure(80 + 34 * len(counts))
    ax = fig.subplots()
    ax.barh(counts.index.astype(str), counts.to_numpy(), color="C0")
    ax.invert_yaxis()
    _counts(ax.xaxis, "notes")
    ax.set_ylabel("note type")
    length = notes.groupby("note_type")["text"].agg(lambda s: int(s.str.len().median()))
    rows = [[name, int(n), int(length[name])] for name, n in counts.items()]
    return (f'<h2 id="notes">Notes ({len(notes)})</h2>\n{_img(fig)}\n'
            + _table(["note_type", "notes", "median characters"], rows, "notes"))


DRAWN = (_mix, _stay, _vitals, _labs, _news2, _notes)


# ---------------------------------------------------------------- helpers

def _with_scenario(frame: pd.DataFrame | None, enc: pd.DataFrame) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.merge(enc[["encounter_id", "scenario"]], on="encounter_id", how="left")


def _by_scenario(frame: pd.DataFrame, col: str) -> dict[str, np.ndarray]:
    """Non-missing values of `col` per scenario, scenarios in name order, empty ones left out."""
    out = {}
    for name, group in frame.groupby("scenario", sort=True):
        values = pd.to_numeric(group[col], errors="coerce").dropna().to_numpy(dtype=float)
        if values.size:
            out[str(name)] = values
    return out


def _boxes(ax, groups: dict[str, np.ndarray], vertical: bool = True) -> None:
    """One box per scenario; the scenario axis is labelled, names slanted when along x."""
    if vertical:
        ax.set_xlabel("scenario")
    else:
        ax.set_ylabel("scenario")
    if not groups:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center")
        return
    ax.boxplot(list(groups.values()), tick_labels=list(groups), orientation="vertical" if vertical else "horizontal",
               widths=0.6, flierprops={"markersize": 3, "alpha": 0.4})
    if vertical:
        ax.tick_params(axis="x", labelrotation=35)
        for label in ax.get_xticklabels():
            label.set(horizontalalignment="right", rotation_mode="anchor")
    else:
        ax.invert_yaxis()


def _counts(axis, label: str) -> None:
    """A labelled axis of whole numbers (counts, scores): no ticks at 2.5."""
    axis.set_label_text(label)
    axis.set_major_locator(MaxNLocator(integer=True))


def _figure(height_px: float) -> Figure:
    """A figure as wide as the page, `height_px` tall, laid out so labels fit."""
    return Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, layout="constrained")


def _grid(n: int):
    rows = max(1, -(-n // COLUMNS))
    fig = _figure(rows * PANEL_PX)
    axes = fig.subplots(rows, COLUMNS, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _img(fig: Figure) -> str:
    """The figure as an inline PNG shown at its own size (the page width); no metadata, so the
    bytes depend only on the drawing."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    width, height = (round(v * DPI) for v in fig.get_size_inches())
    return (f'<img alt="plot" width="{width}" height="{height}" '
            f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">')


def _table(header: list[str], rows: list, name: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td class="name">{_e(v)}</td>' if i == 0 else f"<td>{_e(v)}</td>" for i, v in enumerate(row)) + "</tr>\n"
        for row in rows)
    return f'<table id="table-{name}"><tr>{head}</tr>\n{body}</table>\n'


def _e(value) -> str:
    return html.escape("" if value is None else str(value))
