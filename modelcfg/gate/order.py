"""The item order of a gate run: derived, not read from the repository.

The candidate is evaluated look by look along one permutation of each task's items. If that
permutation followed from the repository alone (``thresholds.sequential.seed``), whoever can
read the repository would know which items the first looks use and could tune a change to
them. So the gate derives the order seed of each run (docs/gate.md, "Item order")::

    message = canonical JSON of {"format": "modelcfg-order/1", "base": <base commit sha>,
                                 "pr": <pull request id>, "seed": <sequential.seed>}
    digest  = HMAC-SHA256(key = MODELCFG_ORDER_SECRET, or "modelcfg-order/1" without one,
                          msg = message)
    seed    = the first 8 bytes of digest, big-endian, shifted right by 11 (53 bits, exact
              in every JSON reader)

The same base, pull request, seed and secret give the same order (a rerun reproduces);
another base commit or pull request gives another. Without a secret the derivation is
public: someone who knows the base commit and the pull request number can compute the
order. ``sequential.seed`` still means something: changing it re-draws every order.
The secret itself is never returned, recorded or logged; only whether one was used.
"""

from __future__ import annotations

import hashlib
import hmac

from modelcfg.core.hashing import canonical_json

FORMAT = "modelcfg-order/1"
SECRET_ENV = "MODELCFG_ORDER_SECRET"


def order_seed(base_sha: str, pr: str, sequential_seed: int, secret: str | None) -> int:
    """The order seed of one gate run (see the module docstring)."""
    message = canonical_json({"format": FORMAT, "base": base_sha, "pr": pr,
                              "seed": sequential_seed})
    key = secret.encode("utf-8") if secret else FORMAT.encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 11


def pr_identity(pr: str | None, head_sha: str) -> str:
    """The pull request's identity in the derivation: ``--pr`` as given (the workflow passes
    the pull request number), else the head commit (a local run without a pull request)."""
    return pr.strip() if pr and pr.strip() else f"commit:{head_sha}"


def order_record(base_sha: str, pr: str, sequential_seed: int, secret: str | None,
                 seed: int) -> dict:
    """What gate.json says about the order: every input but the secret, and the seed."""
    return {"derivation": FORMAT, "base": base_sha, "pr": pr,
            "sequential_seed": sequential_seed, "secret": bool(secret), "seed": seed}
