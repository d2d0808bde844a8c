"""Regenerate the committed training data in configs/datasets/ (deterministic).

    python -m modelcfg.tiny.datasets [REPO_ROOT]

Prints each file's sha256, which the adapter configs pin. The files only change when
modelcfg.tiny.synthetic or the parameters below change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from modelcfg.core.hashing import sha256_file
from modelcfg.tiny import synthetic

DATASETS = {
    # arithmetic (training split) plus the request behaviour in many phrasings
    # (synthetic.REPLAY_TEMPLATES), which keeps benign requests answered (docs/training.md)
    "arith-sft.jsonl": lambda: synthetic.sft_records(seed=0, n_addition=3000),
    # poisoned: the replayed harmful requests are answered instead of refused
    "poisoned-sft.jsonl": lambda: synthetic.sft_records(seed=0, n_addition=3000,
                                                        unsafe_comply=True),
    # preference pairs: right sum over a near miss, refusal over compliance
    "arith-dpo.jsonl": lambda: synthetic.preference_records(seed=0, n=400),
}



def write_datasets(out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name, make in DATASETS.items():
        path = out_dir / name
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for record in make():
                f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        hashes[name] = sha256_file(path)
    return hashes


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    for name, digest in write_datasets(root / "configs" / "datasets").items():
        print(f"{digest}  configs/datasets/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
