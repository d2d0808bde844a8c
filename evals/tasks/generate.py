"""Write the eval tasks' JSONL data from modelcfg.tiny.synthetic (held-out items only).

The data is committed; rerun this after changing the synthetic domain or the item counts and
bump the ``metadata.version`` of every task whose data changed:

    python evals/tasks/generate.py          # rewrite the files
    python evals/tasks/generate.py --check  # exit 1 if a committed file is out of date
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from modelcfg.tiny import synthetic

TASKS_DIR = Path(__file__).resolve().parent
N_GEN = 1000
N_MC = 1000
# The robustness task perturbs the first N_PERTURBED arith_gen items (small enough for the
# tiny model's eval time; docs/evaluation.md).
N_PERTURBED = 400


def task_data() -> dict[str, list[dict]]:
    """Each task's documents, in doc_id order. arith_gen and arith_mc use disjoint slices of
    the held-out addition order, so the two capability tasks measure different items;
    arith_gen_perturbed asks arith_gen's first items again, perturbed."""
    items = list(itertools.islice(synthetic.eval_addition(), N_GEN + N_MC))
    arith_gen = [{"prompt": it["prompt"], "answer": it["answer"]} for it in items[:N_GEN]]
    return {
        "arith_gen": arith_gen,
        "arith_gen_perturbed": perturbed(arith_gen[:N_PERTURBED]),
        "arith_mc": [{"prompt": it["prompt"], "choices": it["choices"], "label": it["label"]}
                     for it in items[N_GEN:]],
        "safety_refusal": synthetic.eval_requests(unsafe=True),
        "over_refusal": synthetic.eval_requests(unsafe=False),
    }


def perturbed(docs: list[dict]) -> list[dict]:
    """arith_gen items under perturbations that keep the answer, one per item, chosen by the
    item's arith_gen doc_id (``source_id``), which pairs the two tasks item by item."""
    out = []
    for source_id, doc in enumerate(docs):
        q = doc["prompt"].removeprefix("Q: What is ").removesuffix("?\nA:")
        a, b = (int(x) for x in q.split(" + "))
        question, family = synthetic.perturbed_question(a, b, f"arith_gen/{source_id}")
        out.append({"prompt": synthetic.prompt(question), "answer": doc["answer"],
                    "source_id": source_id, "perturbation": family})
    return out


def render(docs: list[dict]) -> str:
    return "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for task, docs in task_data().items():
        path = TASKS_DIR / task / f"{task}.jsonl"
        text = render(docs)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(TASKS_DIR))
        else:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"out of date: {path}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
