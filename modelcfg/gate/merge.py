"""`modelcfg gate merge DIR... --out DIR`: the shards of one gate run, as one gate output.

Each shard is a `modelcfg gate --only ...` output folder. The merge fails closed (verdict
``error``, exit 2, the report written all the same):

* MC831: a shard's ``gate.json`` cannot be read, holds a NaN or infinity, is not a gate
  report, has no ``shard`` record, or names evidence its folder does not hold;
* MC832: the shards disagree on what they judged (base, head, merge base, pull request,
  item order, the base's contract and thresholds, modelcfg version, the diff) or on an
  adapter every shard judges (impact none);
* MC830: a shard holds an adapter the plan recomputed from the repository at the recorded
  base and head does not;
* MC833: a planned adapter no shard judged (a missing shard);
* MC834: an adapter judged by more than one shard.

Otherwise: any shard's error is the merge's error, else any block blocks, else pass. The
change-level reasons, notes and agent findings every shard repeats appear once. The
output — ``gate.json``, ``report.md``, ``history.png``, ``evidence/`` and the judge tree —
is what an unsharded run writes, so `modelcfg github report`, `modelcfg promote` and
`modelcfg audit record-attempt` read it unchanged. Every file is written atomically.
"""

from __future__ import annotations

import json
import time
from pathlib import Path, PurePosixPath

from modelcfg.core.atomic import write_bytes
from modelcfg.core.errors import UserError
from modelcfg.core.numbers import strict_json
from modelcfg.gate.plan import judged, planned, policy_identity
from modelcfg.gate.run import GATE_FORMAT, new_report, overall
from modelcfg.gate.shards import prepared_change
from modelcfg.gate.verdict import ERROR, Reason

# What every shard of one run must share: top-level fields, then shard-record fields.
SHARED = ("base", "head", "merge_base", "pr", "order", "diff")
SHARED_RECORD = ("policy", "modelcfg")


class Shard:
    def __init__(self, folder: Path, doc: dict):
        self.folder, self.doc = folder, doc
        self.only: list[str] = doc["shard"]["only"]
        self.configs = {c["adapter"]: c for c in doc["configs"]}

    @property
    def errored(self) -> bool:
        return self.doc.get("verdict") == ERROR


def merge_shards(repo: Path, folders: list[Path], out_dir: Path) -> dict:
    """Merge the shard ``folders`` into ``out_dir``; returns the merged ``gate.json``."""
    started = time.perf_counter()
    repo, out_dir = Path(repo).resolve(), Path(out_dir).resolve()
    problems: list[Reason] = []
    shards = [s for s in (_read(Path(f), problems) for f in folders) if s is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("gate.json", "report.md"):  # no earlier verdict survives a failed merge
        (out_dir / stale).unlink(missing_ok=True)
    report = new_report()
    try:
        _merge(repo, shards, out_dir, report, problems)
    except UserError as err:
        problems.append(Reason("MC820", err.render()))
    except Exception as exc:  # noqa: BLE001 - a bug: write the report, then surface it
        problems.append(Reason("MC820", f"internal error in modelcfg ({type(exc).__name__}: "
                               f"{exc}); the merge did not finish: please report it"))
        _finish(report, shards, problems, repo, out_dir, started)
        raise
    return _finish(report, shards, problems, repo, out_dir, started)


def _read(folder: Path, problems: list[Reason]) -> Shard | None:
    path = folder / "gate.json"
    try:
        doc = strict_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problems.append(Reason("MC831", f"{path} cannot be read ({err}): download that "
                               "shard's artifact again, or rerun the shard"))
        return None
    if not isinstance(doc, dict) or doc.get("format") != GATE_FORMAT or \
            not isinstance(doc.get("configs"), list) or not isinstance(doc.get("reasons"), list):
        problems.append(Reason("MC831", f"{path} is not a gate report ({GATE_FORMAT}): pass "
                               "the output folders of `modelcfg gate --only`"))
        return None
    record = doc.get("shard")
    if not isinstance(record, dict) or not isinstance(record.get("only"), list) or \
            not all(isinstance(n, str) for n in record["only"]):
        problems.append(Reason("MC831", f"{path} has no shard record: it was not written by "
                               "`modelcfg gate --only ADAPTER`; merge only shard folders (an "
                               "unsharded gate output is already whole)"))
        return None
    return Shard(folder, doc)


def _merge(repo: Path, shards: list[Shard], out_dir: Path, report: dict,
           problems: list[Reason]) -> None:
    if not shards:
        if not problems:
            problems.append(Reason("MC831", "no shard folder given: pass the output folder "
                                   "of every `modelcfg gate --only` shard"))
        return
    _agreement(shards, problems)
    first = shards[0].doc
    for key in SHARED:
        report[key] = next((s.doc.get(key) for s in shards if s.doc.get(key) is not None),
                           first.get(key))
    _change_level(shards, report)
    if problems or not (report["base"] and report["head"]):
        return
    _, p = prepared_change(repo, report["base"], report["head"], out_dir)
    if not p.blocked:
        ours = policy_identity(p.judge)
        for s in shards:
            theirs = s.doc["shard"].get("policy")
            if theirs is not None and theirs != ours:
                problems.append(Reason("MC832", f"{s.folder} was judged by other policy "
                                       f"documents than the base commit {report['base'][:12]} "
                                       "holds (contract/thresholds sha256 differ): rerun it"))
    names = [] if p.blocked else [c.name for c in judged(p.changes)]
    plan = [] if p.blocked else [c.name for c in planned(p.changes)]
    chosen = _planned_entries(shards, plan, names, problems)
    chosen.update(_shared_entries(shards, [n for n in names if n not in plan], problems))
    report["configs"] = [chosen[n] for n in names if n in chosen]
    _copy_evidence(report["configs"], shards, out_dir, problems)


def _agreement(shards: list[Shard], problems: list[Reason]) -> None:
    """MC832 for each field the shards record differently (an errored shard that never got
    as far as recording a field is not counted: its error is the merge's)."""
    def values(get):
        seen: dict[str, list[str]] = {}
        for s in shards:
            value = get(s)
            if value is None and s.errored:
                continue
            seen.setdefault(json.dumps(value, sort_keys=True), []).append(str(s.folder))
        return seen

    fields = [(k, lambda s, k=k: s.doc.get(k)) for k in SHARED]
    fields += [(f"shard.{k}", lambda s, k=k: s.doc["shard"].get(k)) for k in SHARED_RECORD]
    for name, get in fields:
        seen = values(get)
        if len(seen) > 1:
            groups = "; ".join(", ".join(folders) for folders in seen.values())
            problems.append(Reason("MC832", f"the shards disagree on {name} (one value each: "
                                   f"{groups}): run every shard of one plan for one base, "
                                   "head and pull request, with one modelcfg and one order "
                                   "secret, then merge them"))


def _change_level(shards: list[Shard], report: dict) -> None:
    """Reasons, notes, agent findings, attempt counts and the agent budget, each once, in
    shard order."""
    for key in ("reasons", "notes", "agent"):
        seen: dict[str, object] = {}
        for s in shards:
            for item in s.doc.get(key) or []:
                seen.setdefault(json.dumps(item, sort_keys=True), item)
        report[key] = list(seen.values())
    for s in shards:
        for name, counted in (s.doc.get("attempts") or {}).items():
            report["attempts"].setdefault(name, counted)
    # The agent budget is change-level (every shard counts the whole plan): the first
    # shard's record, so recorded attempts name the agents it counted (gate.budget).
    budget = next((s.doc["budget"] for s in shards if s.doc.get("budget")), None)
    if budget is not None:
        report["budget"] = budget


def _planned_entries(shards: list[Shard], plan: list[str], names: list[str],
                     problems: list[Reason]) -> dict[str, dict]:
    """Each planned adapter's entry, from the one shard that judged it."""
    for s in shards:
        unknown = [n for n in dict.fromkeys([*s.only, *s.configs])
                   if n not in plan and not (n in names and n not in s.only)]
        problems += [Reason("MC830", f"{s.folder} holds adapter {n}, which the plan of this "
                            f"change does not (planned: {', '.join(plan) or 'none'}): merge "
                            "only shards of `modelcfg gate plan`'s matrix for this base and "
                            "head", config=n) for n in unknown]
    chosen: dict[str, dict] = {}
    for name in plan:
        owners = [s for s in shards if name in s.only or name in s.configs]
        if not owners:
            problems.append(Reason("MC833", f"no shard judged {name}: run `modelcfg gate "
                                   f"--only {name}` for this base and head and pass its "
                                   "folder to the merge too", config=name))
        elif len(owners) > 1:
            problems.append(Reason("MC834", f"{name} is judged by more than one shard "
                                   f"({', '.join(str(s.folder) for s in owners)}): pass each "
                                   "shard's folder once, one shard per adapter of the matrix",
                                   config=name))
        elif name in owners[0].configs:
            chosen[name] = owners[0].configs[name]
        elif not owners[0].errored:
            problems.append(Reason("MC831", f"{owners[0].folder} is the shard of {name} but "
                                   f"its gate.json has no verdict for it: rerun that shard",
                                   config=name))
    return chosen


def _shared_entries(shards: list[Shard], shared: list[str], problems: list[Reason]
                    ) -> dict[str, dict]:
    """The adapters of impact none, which every shard judges: they must agree."""
    chosen: dict[str, dict] = {}
    for name in shared:
        found = {json.dumps(s.configs[name], sort_keys=True): s.configs[name]
                 for s in shards if name in s.configs}
        if len(found) > 1:
            problems.append(Reason("MC832", f"the shards disagree on the verdict of {name} "
                                   "(impact none, judged by every shard): rerun the shards "
                                   "for one base and head", config=name))
        elif found:
            chosen[name] = next(iter(found.values()))
        elif not any(s.errored for s in shards):
            problems.append(Reason("MC833", f"no shard has the verdict of {name} (impact "
                                   "none, judged by every shard): rerun the shards",
                                   config=name))
    return chosen


def _copy_evidence(configs: list[dict], shards: list[Shard], out_dir: Path,
                   problems: list[Reason]) -> None:
    """Each passing adapter's evidence file, from its shard's folder to the same place."""
    owner = {name: s for s in reversed(shards) for name in s.configs}
    for cfg in configs:
        rel = cfg.get("evidence")
        if not rel:
            continue
        parts = PurePosixPath(rel).parts
        source = owner[cfg["adapter"]].folder / rel
        if len(parts) != 2 or parts[0] != "evidence" or not source.is_file() or \
                source.is_symlink():
            problems.append(Reason("MC831", f"{owner[cfg['adapter']].folder} names evidence "
                                   f"{rel!r} for {cfg['adapter']} but holds no such regular "
                                   "file under evidence/: download the shard's whole "
                                   "artifact", config=cfg["adapter"]))
            continue
        write_bytes(out_dir / rel, source.read_bytes())


def _finish(report: dict, shards: list[Shard], problems: list[Reason], repo: Path,
            out_dir: Path, started: float) -> dict:
    report["reasons"] += [r.to_dict() for r in problems]
    report["merged"] = [{"only": s.only, "verdict": s.doc.get("verdict")} for s in shards]
    walls = [s.doc.get("wall_seconds") for s in shards]
    walls = [w for w in walls if isinstance(w, (int, float))]
    # The slowest shard's time (they run side by side) plus the merge's own.
    report["wall_seconds"] = round(max(walls, default=0) + time.perf_counter() - started, 2)
    if problems or any(s.errored for s in shards):
        report["verdict"] = ERROR
    report["verdict"] = overall(report)
    from modelcfg.gate.report import write_report

    write_report(out_dir, report, repo, report["base"])
    return report
