"""A draft expectations file from a run's records: review each entry before committing.

Fallbacks become [unsupported] entries listing the ops left on the CPU; failures become
[xfail] entries scoped to the executors, checks or stage seen, with ceilings a little
above the metrics seen, so that a worse failure later is a failure again.
"""

from __future__ import annotations

import collections
import json
import math
import re
import sys
from typing import Any

from etconform.judging.policy import COVERABLE, LOWERED, Stage, on_the_cpu, role_of
from etconform.records import run_seed
from etconform.stages import BEFORE_EXECUTION

CEILING_MARGIN = 1.1  # a known error may grow by 10 % before it fails again
# compare caps an error at a NaN or infinity the reference lacks to the largest float: no ceiling can be
# 10 % above it, and the count of such elements (nonfinite_mismatches) bounds it instead.
_NONFINITE = sys.float_info.max / CEILING_MARGIN
# The metric each check is held to, and whether it is an upper (max) or lower (min) bound.
# Largest, mean (by magnitude) and RMS error and the share off, against each reference a check names.
_GATED = {
    "vs_quantized": (("max_err_qsteps", "max"), ("mean_err_qsteps", "max"), ("rms_err_qsteps", "max"),
                     ("share_off", "max"), ("max_abs_err_vs_quantized", "max"), ("sqnr_db_vs_quantized", "min"),
                     ("cosine_vs_quantized", "min")),
    "vs_eager": (("max_err_qsteps_vs_rounded", "max"), ("mean_err_qsteps_vs_rounded", "max"),
                 ("rms_err_qsteps_vs_rounded", "max"), ("share_off_vs_rounded", "max"), ("max_abs_err", "max"),
                 ("sqnr_db", "min"), ("cosine", "min")),
    "vs_peer": (("max_err_qsteps_vs_tosa_ref", "max"),),
    "vs_tosa": (("max_diff_vs_tosa", "max"), ("values_differing_vs_tosa", "max")),
    "vs_ideal": (("ideal_gap_db", "max"), ("max_err_gap_db", "max")),
    "vs_labels": (("top1_accuracy_lost", "max"), ("top5_accuracy_lost", "max"), ("perplexity_ratio", "max")),
}


def _ceiling(name: str, value: float, bound: str) -> float:
    """A little worse than seen: 10 % more error; for cosine 10 % more distance from 1; 1 dB less SQNR."""
    if bound == "max":  # rounded up at the third significant digit: 2.44e-4 -> 2.69e-4, not 1e-3
        grown = value * CEILING_MARGIN
        if grown <= 0:
            return 0.0
        unit = 10.0 ** (math.floor(math.log10(grown)) - 2)
        return float(f"{math.ceil(grown / unit) * unit:.3g}")
    if name.startswith("sqnr"):
        return math.floor((value - 1.0) * 1000) / 1000
    return math.floor((1 - (1 - value) * CEILING_MARGIN) * 1e6) / 1e6


# A number standing alone (not the 8 of int8 or the 2 of conv2d), and an absolute path (where the run was).
_NUMBER = r"0x[0-9a-fA-F]+|\bgw\d+\b|(?<![A-Za-z0-9.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"  # gw3: an xdist worker
_ANY_NUMBER = r"(?:0x[0-9a-fA-F]+|gw\d+|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
# Messages are cut at a fixed width (etconform.stages: 300 and 1000 characters): where one may have
# been, a number of another width earlier moves the cut, so the last characters are left open.
_CUT_AT, _OPEN_TAIL = 290, 40
# Shapes are what such a message says: "output 0 has shape (1, 4), expected (1, 3)" keeps its numbers.
_SHAPES = r"(?:shape|expected) \([0-9, ]*\)"
_PATH = r"(?<![\w.])/[^\s'\"():,]+"


def _pattern(message: str) -> str:
    """The failure's whole message as a regular expression (^...$), with only numbers (counts, sizes,
    addresses, the suffixes of generated names) and absolute paths abstracted: another message at the
    same stage, a missing kernel of another name say, is another failure. Shapes stay as they are."""
    cut = len(message) >= _CUT_AT
    text = message[: len(message) - _OPEN_TAIL] if cut else message
    parts, last = [], 0
    for m in re.finditer(f"{_SHAPES}|{_PATH}|{_NUMBER}", text):
        kept = m.group().startswith(("shape", "expected"))
        parts += [re.escape(text[last:m.start()]), re.escape(m.group()) if kept
                  else r"\S+" if m.group().startswith("/") else _ANY_NUMBER]
        last = m.end()
    return "^" + "".join(parts) + re.escape(text[last:]) + (".*$" if cut else "$")


def whole(pattern: str) -> bool:
    """Whether a message pattern matches whole messages (drafted so), not just their first words."""
    return pattern.startswith("^") and pattern.endswith("$")


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _unsupported(records: list[dict[str, Any]], reasons: dict[str, str]) -> dict[str, dict[str, Any]]:
    found = {}
    for r in records:
        d = r.get("delegation") or {}
        on_cpu = on_the_cpu(d)
        if role_of(r) != LOWERED or not (on_cpu or d.get("float_ops")):
            continue
        why = reasons.get(r["case"]) or "; ".join(f"{op}: {w}" for op, w in list((d.get("rejected") or {}).items())[:2])
        entry: dict[str, Any] = {"cpu": dict(sorted(on_cpu.items())), "partitions": d.get("partitions", 0)} if on_cpu else {}
        if d.get("float_ops"):
            entry["float"] = sorted(d["float_ops"])
            why = why or "the quantizer leaves it in float and the partitioner delegates it so"
        said = why or "left on the CPU by the partitioner (it gives no reason)"
        found[r["case"]] = {**entry, "reason": said if r["case"] in reasons else said[:200]}  # a kept reason stays whole
    return found


def _only_on(seeds: tuple[int, ...], ran: set[int]) -> dict[str, Any]:
    """An entry's seeds field: the runs' seeds it failed on, where other seeds the case ran on passed."""
    return {"seeds": list(seeds)} if set(seeds) != ran else {}


def _failed_checks(r: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({f["check"] for f in r["findings"] if f["stage"] == "compare" and f["check"]}))


def _check_entries(failing: list[dict[str, Any]], reason: str, ran: set[int]) -> list[dict[str, Any]]:
    """One entry per set of executors that failed the same checks on the same seeds, ceilings from
    their own records. `ran`: the runs' seeds the case ran on."""
    seeds: dict[tuple[str, tuple[str, ...]], set[int]] = collections.defaultdict(set)
    for r in failing:
        seeds[r["executor"], _failed_checks(r)].add(run_seed(r))
    groups: dict[tuple[tuple[str, ...], tuple[int, ...]], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in failing:
        checks = _failed_checks(r)
        if checks:
            groups[checks, tuple(sorted(seeds[r["executor"], checks]))].append(r)
    entries = []
    for (checks, on), group in sorted(groups.items()):
        entry: dict[str, Any] = {"executors": sorted({r["executor"] for r in group}), "checks": list(checks)}
        for bound in ("max", "min"):
            picked = {}
            for check in checks:
                for name, b in _GATED.get(check, ()):
                    values = [(r.get("metrics") or {}).get(name) for r in group]
                    if name.startswith("mean_err"):  # a bias either way: capped by its size (etconform.judging.policy)
                        values = [abs(v) if isinstance(v, (int, float)) else v for v in values]
                    if b == bound and all(v is not None and math.isfinite(v) and abs(v) < _NONFINITE for v in values):
                        picked[name] = _ceiling(name, max(values) if b == "max" else min(values), b)
            nonfinite = [(r.get("metrics") or {}).get("nonfinite_mismatches") or 0 for r in group]
            if bound == "max" and "vs_eager" in checks and max(nonfinite) > 0:
                picked["nonfinite_mismatches"] = _ceiling("nonfinite_mismatches", max(nonfinite), "max")
            if picked:
                entry[bound] = picked
        message = next(f["message"] for r in group for f in r["findings"] if f["check"] in checks)
        if "max" not in entry and "min" not in entry:  # no finite metric to bound: the failure's own words, numbers too
            entry["message"] = "^" + re.escape(message) + "$"
        said = reason  # per group: one group's explanation must not carry over to the next
        if not said and checks == ("vs_eager",) and "quantized_eager" in entry["executors"]:
            # That the lowered program agrees with the recipe is said only where its vs_quantized check ran.
            lowered = [r for r in group if role_of(r) == LOWERED]
            agrees = bool(lowered) and all("vs_quantized" in (r.get("checks") or []) for r in lowered)
            said = ("quantized eager (the recipe's own eager module) is off eager"
                    + (" and the lowered program agrees with it" if agrees else "")
                    + ": the recipe (int8 rounding, fp16 precision)" + (", not the lowering" if agrees else "")
                    + f" ({message[:150]})")
        entries.append({**entry, **_only_on(on, ran), "reason": said or message[:200]})
    return entries


def _stage_entries(failing: list[dict[str, Any]], reason: str, ran: set[int]) -> list[dict[str, Any]]:
    """One entry per stage, message and seeds that raised (a comparison that raised is the stage `compare`):
    executors that fail one stage in their own words get an entry each, whose pattern matches them."""
    seeds: dict[tuple[str, str, str], set[int]] = collections.defaultdict(set)  # (stage, pattern, executor) -> seeds
    said: dict[tuple[str, str], str] = {}
    for r in failing:
        for f in r["findings"]:
            nothing = f["stage"] == Stage.PARTITION and f["message"].startswith("no partition")
            if (f["stage"] == Stage.PARTITION and not nothing) or (f["stage"] == Stage.COMPARE and f["check"]):
                continue  # CPU ops go to [unsupported]; failed checks to check entries
            pattern = _pattern(f["message"])
            seeds[f["stage"], pattern, "" if f["stage"] in BEFORE_EXECUTION else r["executor"]].add(run_seed(r))
            why = f["message"]
            if nothing:  # no compute op left on the CPU to list: the entry says so, in the partitioner's words
                rejected = list(((r.get("delegation") or {}).get("rejected") or {}).items())[:2]
                why = f"nothing delegated, no compute op to list ({'; '.join(f'{op}: {w}' for op, w in rejected) or 'no reason given'})"
            said.setdefault((f["stage"], pattern), reason or why[:200])
    entries: dict[tuple[str, str, tuple[int, ...]], dict[str, Any]] = {}
    for (stage, pattern, executor), on in seeds.items():
        entry = entries.setdefault((stage, pattern, tuple(sorted(on))), {"stage": stage, "message": pattern})
        if executor:
            entry.setdefault("executors", []).append(executor)
    return [{**e, **({"executors": sorted(e["executors"])} if "executors" in e else {}), **_only_on(on, ran),
             "reason": said[stage, pattern]} for (stage, pattern, on), e in entries.items()]


def _unretired(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the grid bounds a baseline of its seed retires (etconform.judging.oracle.retired): no
    known failure is drafted for what the baseline judges instead, the ideal gaps it measured."""
    from etconform.judging.oracle import gaps_measured, retired

    if not gaps_measured(record):
        return record
    return {**record, "findings": [f for f in record.get("findings") or [] if not retired(f)]}


def _xfails(records: list[dict[str, Any]], reasons: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    by_case: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in map(_unretired, records):
        if r["outcome"] in COVERABLE and r.get("findings"):
            by_case[r["case"]].append(r)
    ran: dict[str, set[int]] = collections.defaultdict(set)  # the runs' seeds each case ran on
    for r in records:
        ran[r["case"]].add(run_seed(r))
    drafted = {}
    for case, failing in by_case.items():
        entries = (_stage_entries(failing, reasons.get(case, ""), ran[case])
                   + _check_entries(failing, reasons.get(case, ""), ran[case]))
        if entries:
            drafted[case] = entries
    return drafted


def update(existing: dict[str, Any], records: list[dict[str, Any]], target: str, catalog: dict[str, str],
           header: str = "", like: tuple[tuple[str, dict[str, Any]], ...] = ()) -> str:
    """Redraft the cases a run covered; keep every other entry and [tolerance] as they are.

    `existing`: the expectations file as parsed; `catalog`: case id -> operator (subject);
    `header`: the file's leading comment, kept. Reviewed reasons are kept, by case or by its operator's key.
    `like`: (name, parsed file) of sibling targets: a new entry that says what a sibling's entry for the
    case says (the same CPU and float ops; the same stage and message) takes its reason, "as on NAME";
    the first sibling that says the same wins.
    """
    mine = [r for r in records if r["target"] == target]
    covered = {r["case"] for r in mine}
    by_subject = collections.defaultdict(set)
    for case, subject in catalog.items():
        by_subject[subject].add(case)

    def kept(section: str) -> dict[str, Any]:
        # A case key the run did not cover, or an operator key some of whose cases it did not cover.
        return {k: v for k, v in existing.get(section, {}).items() if not by_subject.get(k, {k}) <= covered}

    own = {case: entries[0].get("reason", "") for case, entries in _by_case(existing, "unsupported", by_subject).items()}
    unsupported = {**kept("unsupported"), **_unsupported(mine, own)}
    xfails = {k: (v if isinstance(v, list) else [v]) for k, v in kept("xfail").items()}
    reviewed: dict[tuple[str, tuple], dict[str, Any]] = {}  # per entry, not per case: a run failure and a check failure differ
    for case, entries in _by_case(existing, "xfail", by_subject).items():
        for entry in entries:
            reviewed.setdefault((case, _shape(entry)), entry)
    messages = collections.defaultdict(list)  # what each case's findings said, whole
    for r in mine:
        messages[r["case"]] += [f["message"] for f in r.get("findings") or []]
    for case, entries in _xfails(mine, {}).items():
        xfails[case] = [_keep_reviewed(e, reviewed.get((case, _shape(e)), {}), messages[case]) for e in entries]
    for name, sibling in reversed(like):  # the first sibling's reason is written last
        _borrow(target, name, _by_case(sibling, "unsupported", by_subject), _by_case(sibling, "xfail", by_subject),
                unsupported, xfails, set(own), set(reviewed), covered)
    return _render(header or _HEADER.format(target=target), unsupported, xfails, existing.get("tolerance", {}))


def uncovered(records: list[dict[str, Any]], target: str, parsed: dict[str, Any], catalog: dict[str, str]) -> list[str]:
    """Cases of `target` that failed in the run and have no entry in the parsed file, by case or operator:
    a failure the draft could not express (lone casts once were) stays red; the command says so."""
    keys = set(parsed.get("unsupported", {})) | set(parsed.get("xfail", {}))
    retired_only = [bool(r.get("findings")) and not _unretired(r)["findings"] for r in records]  # the baseline judges those
    return sorted({r["case"] for r, gone in zip(records, retired_only) if r["target"] == target and r["outcome"] in COVERABLE
                   and not gone and r["case"] not in keys and catalog.get(r["case"]) not in keys})


def _keep_reviewed(drafted: dict[str, Any], reviewed: dict[str, Any], messages: list[str]) -> dict[str, Any]:
    """The drafted entry with the reviewed reason, and the reviewed message pattern (often narrowed by hand)
    while it still matches a message the drafted pattern matches."""
    kept = {**drafted, "reason": reviewed.get("reason") or drafted["reason"]}
    if "message" in drafted and reviewed.get("message") and whole(reviewed["message"]):
        if any(re.search(drafted["message"], m) and re.search(reviewed["message"], m) for m in messages):
            kept["message"] = reviewed["message"]
    return kept


def _by_case(parsed: dict[str, Any], section: str, by_subject: dict[str, set[str]]) -> dict[str, list[dict[str, Any]]]:
    """A parsed expectations file's entries in `section`, by case id (an operator's key counts for each of its cases)."""
    found: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for key, value in parsed.get(section, {}).items():
        for case in by_subject.get(key, {key}):
            found[case] += value if isinstance(value, list) else [value]
    return found


def _borrow(target: str, name: str, their_unsupported: dict[str, list[dict[str, Any]]],
            their_xfails: dict[str, list[dict[str, Any]]], unsupported: dict[str, Any],
            xfails: dict[str, list[dict[str, Any]]], own: set[str], reviewed: set[tuple], covered: set[str]) -> None:
    """Reasons from a sibling target's entries that say the same thing of the same case; not where a
    reviewed reason of the target's own (`own` cases, `reviewed` (case, shape) keys) is kept."""

    def said(reason: str) -> str:
        if reason.startswith(f"as on {target}: "):  # the target's own reason, come back by way of the sibling
            return reason.removeprefix(f"as on {target}: ")
        return reason if reason.startswith("as on ") else f"as on {name}: {reason}"

    for case in covered & set(unsupported) - own:
        mine = unsupported[case]
        same = [e for e in their_unsupported.get(case, [])
                if sorted(e.get("cpu", [])) == sorted(mine.get("cpu", [])) and sorted(e.get("float", [])) == mine.get("float", [])]
        if same:
            mine["reason"] = said(same[0]["reason"])
    for case in covered & set(xfails):
        theirs = their_xfails.get(case, [])
        for e in xfails[case]:
            if (case, _shape(e)) in reviewed:
                continue
            if "stage" in e:
                words = re.sub(r"\\(.)", r"\1", e["message"])  # the pattern's own words, unescaped
                same = [t for t in theirs if t.get("stage") == e["stage"] and re.search(t.get("message", ""), words)]
            else:  # the same checks failed by the same executors, every number within the sibling's ceilings
                same = [t for t in theirs if _shape(t) == _shape(e) and _within(e, t)]
            if same:
                e["reason"] = said(same[0]["reason"])


def _within(entry: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Each bound of `entry` is one `theirs` sets, and no looser: what was seen fits their entry."""
    for bound, worse in (("max", float.__gt__), ("min", float.__lt__)):
        for name, value in entry.get(bound, {}).items():
            if name not in theirs.get(bound, {}) or worse(float(value), float(theirs[bound][name])):
                return False
    return bool(entry.get("max") or entry.get("min"))


def _shape(entry: dict[str, Any]) -> tuple:
    """What an xfail entry covers: its stage, executors and checks."""
    return entry.get("stage", ""), tuple(entry.get("executors", ())), tuple(entry.get("checks", ()))


_HEADER = "# Drafted from a run's records for {target}: review each entry before committing.\n"


def _render(header: str, unsupported: dict[str, Any], xfails: dict[str, list[dict[str, Any]]],
            tolerance: dict[str, Any]) -> str:
    lines = [*header.rstrip("\n").splitlines(), ""]
    if unsupported:
        lines.append("[unsupported]")
        lines += [f"{json.dumps(case)} = {_toml(entry)}" for case, entry in sorted(unsupported.items())]
        lines.append("")
    for case, entries in sorted(xfails.items()):
        for entry in entries:
            head = f"[[xfail.{json.dumps(case)}]]" if len(entries) > 1 else f"[xfail.{json.dumps(case)}]"
            lines += [head, *(f"{k} = {_toml(v)}" for k, v in entry.items()), ""]
    for key, value in sorted(tolerance.items()):
        lines += [f"[tolerance.{json.dumps(key)}]", *(f"{k} = {_toml(v)}" for k, v in value.items()), ""]
    return "\n".join(lines)


def draft(records: list[dict[str, Any]], target: str, reasons: dict[str, str] | None = None,
          cpu_reasons: dict[str, str] | None = None) -> str:
    """The TOML text; `reasons` and `cpu_reasons` keep reviewed reasons by case id, for
    [xfail] and [unsupported] (from the file being redrafted)."""
    mine = [r for r in records if r["target"] == target]
    return _render(_HEADER.format(target=target), _unsupported(mine, cpu_reasons or {}), _xfails(mine, reasons or {}), {})
