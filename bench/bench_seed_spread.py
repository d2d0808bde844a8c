"""Benchmark: how much tiny-arith moves when only its training seed changes, and whether
the real gate lets such a change through (issue 9, "the recipe is stable").

A scratch repository is made from this repository's configs/ and evals/ (as `modelcfg demo`
does). The baseline is the committed one (``--baseline committed``, what CI sees on a clean
clone) or, while tuning the recipe, one made here from the shipped config (``--baseline
fresh``: a pull request adds tiny-arith, the gate judges it against the base model, its
evidence is promoted). Then one agent pull request per seed changes only
``training.seed`` and `modelcfg gate` judges it against that baseline: real training, real
lm-eval, the full tasks of the adapter's suites (complete evidence). Prints a table (seed,
per-task metric, per-task decision, verdict) and the spread (min / max / sd per task).

    python bench/bench_seed_spread.py [--seeds 1-10] [--baseline committed|fresh] [--out F]
        [--runs-dir DIR]

Several processes with disjoint ``--seeds`` may share one ``--runs-dir``; ``--table``
renders the JSON rows they wrote (``--out``) as one table:

    python bench/bench_seed_spread.py --table a.json b.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ADAPTER = "configs/adapters/tiny-arith.yaml"


def seeds_arg(text: str) -> list[int]:
    """``1-10`` or ``1,4,7``."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def with_seed(seed: int):
    def change(repo: Path) -> None:
        path = repo / ADAPTER
        text, count = re.subn(r"(?m)^(  seed: )\d+$", rf"\g<1>{seed}", path.read_text())
        if count != 1:
            raise SystemExit(f"{ADAPTER} has no single training.seed line to change")
        path.write_text(text)
    return change


def fresh_baseline(repo: Path, work: Path, settings) -> None:
    """Promote a baseline of the shipped config, made here: the gate judges a pull request
    that adds tiny-arith (against the base model), its evidence becomes the baseline."""
    from modelcfg.audit.promote import promote
    from modelcfg.demo.scenario import agent_branch, git
    from modelcfg.gate.run import run_gate

    text = (repo / ADAPTER).read_text()
    for path in (repo / "configs/adapters").glob("tiny-*.yaml"):
        path.unlink()
    (repo / "evals/baselines/tiny-arith.json").unlink(missing_ok=True)
    (repo / "evals/ledger.jsonl").unlink(missing_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start without the tiny adapters")
    git(repo, "push", "-q", "origin", "main")
    agent_branch(repo, "add", lambda r: (r / ADAPTER).write_text(text), "Add tiny-arith")
    report = run_gate(repo, "main", "add", work / "gate-add", settings)
    if report["verdict"] != "pass":
        raise SystemExit(f"the shipped config does not pass as a new adapter: {report}")
    git(repo, "merge", "-q", "--ff-only", "add")
    git(repo, "push", "-q", "origin", "main")
    (cfg,) = report["configs"]
    evidence = json.loads((work / "gate-add" / cfg["evidence"]).read_text())
    summary = evidence.pop("gate")["tasks"]
    promote(repo, adapter="tiny-arith", evidence=evidence, actor={"merged_by": "bench"},
            eval_summary=summary)
    git(repo, "pull", "-q", "--ff-only", "origin", "main")


def judge_seed(repo: Path, work: Path, settings, seed: int) -> dict:
    from modelcfg.demo.scenario import agent_branch
    from modelcfg.gate.run import run_gate

    agent_branch(repo, f"seed-{seed}", with_seed(seed), f"tiny-arith: training seed {seed}")
    start = time.perf_counter()
    report = run_gate(repo, "main", f"seed-{seed}", work / f"gate-{seed}", settings)
    wall = time.perf_counter() - start
    row = {"seed": seed, "verdict": report["verdict"], "wall_seconds": round(wall, 1),
           "codes": sorted({r["code"] for c in report["configs"] for r in c["reasons"]}
                           | {r["code"] for r in report["reasons"]}), "tasks": {}}
    for cfg in report["configs"]:
        evidence = {}
        if cfg.get("evidence"):
            evidence = json.loads((work / f"gate-{seed}" / cfg["evidence"]).read_text())
        full = {t: (o or {}).get("value")
                for t, o in ((evidence.get("gate") or {}).get("tasks", {})).items()}
        if not full and cfg["train"].get("run_dir"):  # blocked: no evidence, measure anyway
            full = full_values(repo, cfg, work / f"full-{seed}")
        for task, outcome in cfg["tasks"].items():
            row["tasks"][task] = {"decision": outcome.get("decision"),
                                  "value": full.get(task),
                                  "candidate_mean": outcome.get("candidate_mean"),
                                  "baseline_mean": outcome.get("baseline_mean"),
                                  "items_used": outcome.get("items_used")}
    return row


def full_values(repo: Path, cfg: dict, out: Path) -> dict:
    """Every item of every task for a candidate the gate blocked early (it leaves no
    evidence): the seed's spread is measured on the full tasks either way."""
    from modelcfg.evaluation.batches import Evaluator
    from modelcfg.gate.verdict import metric_key
    from modelcfg.tiny.build import ensure_tiny_model

    tasks = list(cfg["tasks"])
    ev = Evaluator(ensure_tiny_model(), Path(cfg["train"]["run_dir"]) / "adapter",
                   repo / "evals" / "tasks", out, 0, {"base": "tiny-llama"}, lambda e: None)
    ev.evaluate_to({t: 10 ** 9 for t in tasks})
    values = {}
    for task in tasks:
        entry = ev.task(task)
        key = metric_key(entry.get("samples", {}), cfg["tasks"][task]["metric"])
        values[task] = (entry.get("metrics", {}).get(key) or {}).get("value")
    return values


def render(rows: list[dict]) -> list[str]:
    tasks = sorted({t for r in rows for t in r["tasks"]})
    lines = ["| seed | " + " | ".join(tasks) + " | verdict |",
             "|---|" + "---|" * len(tasks) + "---|"]
    for r in rows:
        cells = []
        for t in tasks:
            o = r["tasks"].get(t, {})
            value = o.get("value")
            cells.append(f"{value:.3f} {o.get('decision')}" if value is not None
                         else f"– {o.get('decision')}")
        lines.append(f"| {r['seed']} | " + " | ".join(cells)
                     + f" | {r['verdict']} {' '.join(r['codes'])} |")
    lines.append("")
    lines.append("| task | min | max | sd | n seeds |")
    lines.append("|---|---|---|---|---|")
    for t in tasks:
        values = [r["tasks"][t]["value"] for r in rows
                  if r["tasks"].get(t, {}).get("value") is not None]
        if values:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            lines.append(f"| {t} | {min(values):.3f} | {max(values):.3f} | {sd:.3f} | "
                         f"{len(values)} |")
    passed = sum(r["verdict"] == "pass" for r in rows)
    lines.append("")
    lines.append(f"seed-only pull requests passing the gate: {passed} of {len(rows)}")
    return lines


def main() -> None:
    if sys.argv[1:2] == ["--table"]:
        rows = [r for f in sys.argv[2:] for r in json.loads(Path(f).read_text())]
        print("\n".join(render(sorted(rows, key=lambda r: r["seed"]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds_arg, default=list(range(1, 11)))
    parser.add_argument("--baseline", choices=("committed", "fresh"), default="committed")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--runs-dir", type=Path, help="training cache to reuse (default: a "
                        "fresh one; runs are keyed by fingerprint, so a shared one is safe "
                        "as long as two processes do not train the same seed at once)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from modelcfg.demo.scenario import scratch_repo
    from modelcfg.gate.run import GateSettings

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = scratch_repo(REPO, work / "scratch")
        settings = GateSettings(runs_dir=args.runs_dir or work / "runs")
        if args.baseline == "fresh":
            fresh_baseline(repo, work, settings)
        for seed in args.seeds:
            rows.append(judge_seed(repo, work, settings, seed))
            print(json.dumps(rows[-1]), flush=True)
            if args.out:  # after every seed: a run cut short keeps what it measured
                args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(render(rows)))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
