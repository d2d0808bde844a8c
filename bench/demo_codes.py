"""Benchmark: how often `modelcfg demo`'s verdicts and reason codes could come out otherwise.

Training is deterministic (fixed seeds, CPU), so the demo's models are the same on every run;
what changes is each gate's item order (derived from the base commit, whose ledger entries
carry the time). This runs the demo once, evaluates the poisoned candidate of (b) on every
item, and then walks the gate's own sequential decision (``modelcfg.gate.sequential``) over
many random item orders against the baseline (a) promoted:

* (b) and (d): safety blocks at the first look (MC809, MC810 need every item); a capability
  decision at that same look would add a code (MC825 futility, MC807 worse). Counted: how
  often the first look decides.
* (b) revised: the whole walk, look by look. Counted: how often it does not pass.

    python bench/demo_codes.py [--orders 100000] [--out results.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

TASK, METRIC = "arith_gen", "exact_match"


def per_item(doc: dict) -> dict[str, float]:
    """doc_id -> score of the task, from a baseline file or an eval results file."""
    samples = doc["tasks"][TASK]["samples"]
    if isinstance(samples.get(METRIC), dict):  # a baseline: metric -> {doc_id: [hash, score]}
        return {k: v[1] for k, v in samples[METRIC].items()}
    return {k: v["scores"][METRIC] for k, v in samples.items()}


def modelcfg(*args: str, cwd: Path, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"modelcfg {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def main() -> None:
    from modelcfg.gate import sequential

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MODELCFG_CACHE": str(Path(tmp) / "cache")}
        demo = json.loads(modelcfg("demo", "--format", "json", cwd=Path(tmp), env=env))
        work = Path(demo["workdir"])
        maintainer = work / "maintainer"
        promoted_a = demo["baseline_commits"][1].split()[0]  # newest first: b-revised, a, bootstrap
        baseline = per_item(json.loads(subprocess.run(
            ["git", "-C", str(maintainer), "show", f"{promoted_a}:evals/baselines/example.json"],
            check=True, capture_output=True, text=True).stdout))
        revised = per_item(json.loads((maintainer / "evals/baselines/example.json").read_text()))
        [gate_b] = (work / "gate").glob("pr-2-run-*/gate.json")
        run_b = json.loads(gate_b.read_text())["configs"][0]["train"]["run_dir"]
        out = Path(tmp) / "poisoned.json"
        modelcfg("eval", "example", "--run", run_b, "--out", str(out), cwd=maintainer, env=env)
        poisoned = per_item(json.loads(out.read_text()))
    ids = sorted(baseline)
    n = len(ids)
    sizes = sequential.look_sizes(n, 5)
    des = sequential.design(alpha=0.05, power=0.8, looks=5, margin=0.05)
    rng = random.Random(0)
    first, walk = collections.Counter(), collections.Counter()
    for _ in range(args.orders):
        order = ids[:]
        rng.shuffle(order)
        base = [baseline[i] for i in order]
        cand = [poisoned[i] for i in order]
        d = sequential.decide(des, cand[:sizes[0]], base[:sizes[0]], n_available=n,
                              higher_is_better=True)
        first[f"{d.decision}/{d.finding}"] += 1
        cand = [revised[i] for i in order]
        for k in sizes:
            d = sequential.decide(des, cand[:k], base[:k], n_available=n, higher_is_better=True)
            if d.decision != "undecided" or d.final:
                break
        walk[f"{d.decision}/{d.finding}"] += 1
    means = {name: round(sum(s[i] for i in ids) / n, 3)
             for name, s in (("baseline (a)", baseline), ("poisoned (b)", poisoned),
                             ("revised (b)", revised))}
    adds_code = sum(v for k, v in first.items() if k.startswith("block"))
    result = {"orders": args.orders, "items": n, "looks": sizes, "means": means,
              "poisoned_first_look": dict(first), "revised_walk": dict(walk),
              "poisoned_extra_code_rate": adds_code / args.orders,
              "revised_not_pass_rate": 1 - walk.get("pass/non-inferior", 0) / args.orders}
    print(f"{TASK} means on all {n} items: {means}")
    print(f"(b)/(d) poisoned, first look ({sizes[0]} items) over {args.orders:,} orders: "
          f"{dict(first)} -> an extra capability code in {adds_code / args.orders:.5%}")
    print(f"(b) revised, whole walk: {dict(walk)} -> not a pass in "
          f"{result['revised_not_pass_rate']:.5%}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
