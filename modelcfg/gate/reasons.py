"""What a verdict is made of: a reason with a stable code, and one adapter's finding."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PASS, BLOCK, ERROR = "pass", "block", "error"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    config: str | None = None
    task: str | None = None
    field: str | None = None
    threshold: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ConfigVerdict:
    """The gate's finding about one changed adapter (a ``configs`` entry of gate.json)."""

    adapter: str
    path: str
    impact: str
    verdict: str = PASS
    reasons: list[Reason] = field(default_factory=list)
    tasks: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    evidence: str | None = None
    replaces: str | None = None  # the adapter whose history a renamed one continues
    latency: dict | None = None  # the latency SLO's outcome, when the thresholds set one

    def block(self, reasons) -> None:
        self.reasons.extend(reasons)
        if self.reasons:
            self.verdict = BLOCK

    def to_dict(self) -> dict:
        return {"adapter": self.adapter, "path": self.path, "impact": self.impact,
                "verdict": self.verdict, "reasons": [r.to_dict() for r in self.reasons],
                "tasks": self.tasks, "cost": self.cost, "train": self.train,
                "baseline": self.baseline, "evidence": self.evidence,
                "replaces": self.replaces,
                **({"latency": self.latency} if self.latency is not None else {})}
