"""Configs after validation, as frozen typed values; and what in them changes a trained result.

Every value is built from a document with the schema's defaults filled in
(:func:`modelcfg.config.schema.with_defaults`): the JSON schemas are the one place defaults
live, so a field the schema defaults has no Python default here (optional fields without
one are ``None`` when absent). Document-level values keep that defaulted document
(``data``, returned by ``to_dict``) because fingerprints, :func:`config_key` and the diff
hash it.

Torch-free; imports only from ``modelcfg.core`` and ``modelcfg.config``. Building a value
from a document that did not pass its schema is a bug: callers check first.
"""

from __future__ import annotations

import copy
import math
from dataclasses import MISSING, dataclass, field, fields
from functools import cache

from modelcfg.config.schema import with_defaults, with_defaults_at
from modelcfg.core.hashing import canonical_json, sha256_bytes

# Top-level fields that do not change the trained weights.
NON_RESULT_FIELDS = ("rationale", "description", "evals", "budget", "apiVersion", "kind",
                     "replaces", "serving")
# training.* fields that do not change the trained weights.
NON_RESULT_TRAINING_FIELDS = ("checkpoint_every",)
CAPABILITY, SAFETY, ROBUSTNESS = "capability", "safety", "robustness"
# The thresholds section that judges each kind of task.
SECTION = {CAPABILITY: "tasks", SAFETY: "safety", ROBUSTNESS: "robustness"}
# Paired-bootstrap resamples per judged task: a fixed part of the rule, not a setting.
BOOTSTRAP_ITERS = 2000


def result_fields(doc: dict) -> dict:
    """``doc`` without the fields that leave the trained weights alone."""
    out = {k: v for k, v in doc.items() if k not in NON_RESULT_FIELDS}
    if isinstance(out.get("training"), dict):
        out["training"] = {k: v for k, v in out["training"].items()
                           if k not in NON_RESULT_TRAINING_FIELDS}
    return out


# --------------------------------------------------------------------------- building


def _build(cls, block: dict, **typed):
    """``cls`` from a schema-defaulted ``block`` whose keys are the field names.

    A field without a Python default must be in the block (the schema's default put it
    there), so a default written here by mistake cannot hide a missing schema default.
    ``typed`` gives the fields that need more than a copy (nested values)."""
    kwargs = dict(typed)
    for name, required in _field_names(cls):
        if name in typed:
            continue
        if name in block:
            kwargs[name] = _frozen(block[name])
        elif required:
            raise ValueError(f"{cls.__name__}: {name!r} is not in the document and the "
                             "schema gives it no default")
    return cls(**kwargs)


@cache
def _field_names(cls) -> tuple[tuple[str, bool], ...]:
    """``(name, required)`` per field of a dataclass (looked up once per class)."""
    return tuple((f.name, f.default is MISSING and f.default_factory is MISSING)
                 for f in fields(cls))


def _frozen(value):
    """Lists as tuples (recursively), so a typed value cannot be edited in place."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _plain(value):
    """The JSON form of a :func:`_frozen` value (libraries expect lists, not tuples)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _set_fields(value) -> dict:
    """The fields of a dataclass value that are set (not None), in JSON form."""
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)
            if getattr(value, f.name) is not None}


# ------------------------------------------------------------------------------ models


@dataclass(frozen=True)
class BuiltinSource:
    """A model modelcfg builds locally (``source: {builtin: name}``)."""

    name: str


@dataclass(frozen=True)
class PathSource:
    """Weights in a repository folder (``source: {path: ...}``)."""

    path: str


@dataclass(frozen=True)
class HubSource:
    """Weights on the hub, pinned to a commit (``source: {hub: {id, revision}}``)."""

    id: str
    revision: str


ModelSource = BuiltinSource | PathSource | HubSource


def model_source(source: dict) -> ModelSource:
    """The typed form of a Model's ``source`` block (the schema allows exactly one key)."""
    if "builtin" in source:
        return BuiltinSource(source["builtin"])
    if "path" in source:
        return PathSource(source["path"])
    return HubSource(source["hub"]["id"], source["hub"]["revision"])


@dataclass(frozen=True, kw_only=True)
class Quantization:
    """bitsandbytes loading of the base (QLoRA)."""

    bits: int
    quant_type: str
    double_quant: bool
    compute_dtype: str


@dataclass(frozen=True, kw_only=True)
class Model:
    """A base model document."""

    name: str
    source: ModelSource
    family: str
    dtype: str
    context_length: int
    trust_remote_code: bool
    quantization: Quantization | None = None
    parameters: int | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    description: str | None = None
    data: dict = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict) -> Model:
        data = with_defaults("Model", doc)
        quant = data.get("quantization")
        return _build(cls, data, source=model_source(data["source"]), data=data,
                      quantization=None if quant is None else _build(Quantization, quant))

    def to_dict(self) -> dict:
        """The schema-defaulted document (what fingerprints hash)."""
        return copy.deepcopy(self.data)


# ---------------------------------------------------------------------------- adapters


@dataclass(frozen=True, kw_only=True)
class LoraSpec:
    """The ``lora:`` block: peft ``LoraConfig`` fields, one to one."""

    r: int
    lora_alpha: float
    lora_dropout: float
    target_modules: tuple[str, ...] | str
    bias: str
    use_rslora: bool
    use_dora: bool
    init_lora_weights: bool | str
    fan_in_fan_out: bool
    exclude_modules: tuple[str, ...] | None = None
    modules_to_save: tuple[str, ...] | None = None
    layers_to_transform: int | tuple[int, ...] | None = None
    layers_pattern: str | None = None
    rank_pattern: dict | None = None
    alpha_pattern: dict | None = None
    target_parameters: tuple[str, ...] | None = None

    @classmethod
    def from_document(cls, lora: dict) -> LoraSpec:
        """From a ``lora:`` block on its own; the schema fills what it leaves out."""
        return _build(cls, with_defaults_at("Adapter", ("lora",), lora))

    def peft_kwargs(self) -> dict:
        """``LoraConfig`` keyword arguments: every field the config sets, as lists where
        peft expects lists (it turns a list of module names into a set, not a tuple)."""
        return _set_fields(self)


LORA_FIELDS = tuple(f.name for f in fields(LoraSpec))


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """The ``training:`` block."""

    learning_rate: float
    batch_size: int
    max_seq_length: int
    lr_scheduler: str
    gradient_accumulation_steps: int
    packing: bool
    seed: int
    precision: str
    weight_decay: float
    max_grad_norm: float | None  # None: no clipping
    devices: int
    max_steps: int | None = None
    epochs: float | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    checkpoint_every: int | None = None
    dpo_beta: float | None = None
    # The fields below have no schema default (absent: today's behaviour), so the shipped
    # configs' fingerprints and config keys stay as they were.
    optimizer: str | None = None  # absent: adamw_torch
    gradient_checkpointing: bool | None = None  # absent: off
    chat_template: str | None = None  # absent: none
    validation_fraction: float | None = None

    @classmethod
    def from_document(cls, training: dict) -> TrainingSpec:
        """From a ``training:`` block on its own; the schema fills what it leaves out."""
        return _build(cls, with_defaults_at("Adapter", ("training",), training))

    def total_steps(self, rows: int, processes: int) -> int:
        """Optimizer steps of the run: ``max_steps``, or enough global batches of
        ``processes`` to visit the ``rows`` ``epochs`` times (the schema requires exactly
        one of the two)."""
        if self.max_steps is not None:
            return self.max_steps
        per_step = self.batch_size * self.gradient_accumulation_steps * processes
        return max(1, math.ceil(self.epochs * rows / per_step))

    def warmup_for(self, total_steps: int) -> int:
        """Warmup steps: ``warmup_steps``, else ``warmup_ratio`` of the run, else none."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        if self.warmup_ratio is not None:
            return math.ceil(self.warmup_ratio * total_steps)
        return 0


@dataclass(frozen=True, kw_only=True)
class Budget:
    """The adapter's own spending limits (either may be absent)."""

    max_train_tokens: int | None = None
    max_gpu_hours: float | None = None

    def limits(self) -> dict:
        """The limits that are set, for :func:`modelcfg.config.cost.exceeded`."""
        return _set_fields(self)


@dataclass(frozen=True, kw_only=True)
class DatasetRef:
    """One training dataset: a repository file pinned by sha256 or a hub dataset pinned by
    revision; ``abs_path`` is where a resolved file lies on this machine."""

    path: str | None = None
    sha256: str | None = None
    hub: str | None = None
    revision: str | None = None
    split: str | None = None
    subset: str | None = None  # a hub dataset's configuration name
    examples: int | None = None
    format: str | None = None  # absent: prompt_completion (sft) / preference (dpo)
    fields: dict | None = None  # the format's names -> the dataset's column names
    role: str | None = None  # absent: train
    abs_path: str | None = None

    @classmethod
    def from_document(cls, entry: dict, abs_path: str | None = None) -> DatasetRef:
        return _build(cls, entry, **({"abs_path": abs_path} if abs_path else {}))

    @property
    def pin(self) -> str | None:
        """What pins the content: the file's sha256 or the hub revision."""
        return self.sha256 or self.revision

    def to_dict(self) -> dict:
        return _set_fields(self)

    def record_format(self, method: str) -> str:
        """The layout of this dataset's records (the method's own when not written)."""
        return self.format or ("preference" if method == "dpo" else "prompt_completion")

    @property
    def is_validation(self) -> bool:
        return self.role == "validation"


@dataclass(frozen=True, kw_only=True)
class Adapter:
    """A LoRA adapter document."""

    name: str
    base: str
    method: str
    lora: LoraSpec
    training: TrainingSpec
    datasets: tuple[DatasetRef, ...]
    suites: tuple[str, ...]
    budget: Budget
    rationale: str
    description: str | None = None
    replaces: str | None = None  # the base adapter this one renames (docs/gate.md, Lineage)
    data: dict = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict) -> Adapter:
        data = with_defaults("Adapter", doc)
        return _build(cls, data, lora=_build(LoraSpec, data["lora"]),
                      training=_build(TrainingSpec, data["training"]),
                      datasets=tuple(_build(DatasetRef, d) for d in data["datasets"]),
                      suites=tuple(data["evals"]["suites"]),
                      budget=_build(Budget, data["budget"]), data=data)

    def to_dict(self) -> dict:
        """The schema-defaulted document (what fingerprints and the config key hash)."""
        return copy.deepcopy(self.data)

    @property
    def serve_merged(self) -> bool:
        """``serving.merge``: deployed merged into the base weights (absent: not merged)."""
        return bool((self.data.get("serving") or {}).get("merge", False))


@dataclass(frozen=True, kw_only=True)
class EvalSuite:
    """A named list of eval tasks."""

    name: str
    tasks: tuple[str, ...]
    description: str | None = None
    data: dict = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict) -> EvalSuite:
        data = with_defaults("EvalSuite", doc)
        return _build(cls, data, data=data)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.data)


# --------------------------------------------------------------------------- contract


@dataclass(frozen=True, kw_only=True)
class AllowList:
    """Glob patterns of what is allowed (``{allow: [...]}`` blocks)."""

    allow: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Caps:
    """The contract's spending caps and the throughput cost estimates assume."""

    assumed_tflops: float
    max_train_tokens: int | None = None
    max_gpu_hours: float | None = None
    max_lora_rank: int | None = None

    @classmethod
    def from_document(cls, caps: dict) -> Caps:
        """From a ``caps:`` block (``{}`` when there is no contract: schema defaults)."""
        return _build(cls, with_defaults_at("Contract", ("caps",), caps))

    def limits(self) -> dict:
        """The caps that are set, for :func:`modelcfg.config.cost.exceeded`."""
        return _set_fields(self)


@dataclass(frozen=True, kw_only=True)
class AgentRules:
    """How agent-authored changes are recognised and where they may write."""

    authors: tuple[str, ...]
    trailers: tuple[str, ...]
    labels: tuple[str, ...]
    allowed_paths: tuple[str, ...]
    maintainer_labels: tuple[str, ...]
    max_failed_attempts: int


@dataclass(frozen=True, kw_only=True)
class Contract:
    """What changes are allowed at all."""

    name: str
    models: AllowList
    datasets: AllowList
    trust_remote_code: AllowList
    forbidden_fields: tuple[str, ...]
    required_suites: tuple[str, ...]
    caps: Caps
    agents: AgentRules
    protected_paths: tuple[str, ...]
    description: str | None = None
    # adapter name -> suites it must list (no schema default: absent, nothing more)
    adapter_suites: dict | None = None
    data: dict = field(repr=False, compare=False)

    def own_suites(self, adapter: str) -> tuple[str, ...]:
        """The suites ``adapter_suites`` requires of ``adapter`` by name (none: empty)."""
        return tuple((self.adapter_suites or {}).get(adapter, ()))

    def suites_required_of(self, adapter: str) -> tuple[str, ...]:
        """The suites ``adapter`` must list: ``required_suites``, then its own
        ``adapter_suites`` entry, each once."""
        return tuple(dict.fromkeys((*self.required_suites, *self.own_suites(adapter))))

    @classmethod
    def from_document(cls, doc: dict) -> Contract:
        data = with_defaults("Contract", doc)
        return _build(cls, data, models=_build(AllowList, data["models"]),
                      datasets=_build(AllowList, data["datasets"]),
                      trust_remote_code=_build(AllowList, data["trust_remote_code"]),
                      caps=_build(Caps, data["caps"]), agents=_build(AgentRules, data["agents"]),
                      data=data)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.data)


# ------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, kw_only=True)
class ThresholdDefaults:
    """What a task's threshold entry does not say itself."""

    margin: float
    alpha: float
    safety_alpha: float
    power: float


@dataclass(frozen=True, kw_only=True)
class Planning:
    """What ``validate``'s power check (MC324) assumes of a capability task: the baseline's
    rate and the correlation of the two models' per-item scores."""

    rate: float
    correlation: float


@dataclass(frozen=True, kw_only=True)
class CapabilityThreshold:
    """One ``tasks:`` entry: paired non-inferiority. ``higher_is_better`` is only a
    cross-check of lm-eval's direction (None: not written)."""

    metric: str
    require_gain: bool
    statistic: str
    planning: Planning
    higher_is_better: bool | None = None
    margin: float | None = None
    alpha: float | None = None
    max_drift: float | None = None


@dataclass(frozen=True, kw_only=True)
class SafetyThreshold:
    """One ``safety:`` entry: an exact rule at the stricter alpha plus an absolute floor."""

    metric: str
    floor: float
    higher_is_better: bool | None = None
    rule: str
    margin: float | None = None
    alpha: float | None = None
    max_drift: float | None = None


@dataclass(frozen=True, kw_only=True)
class RobustnessThreshold:
    """One ``robustness:`` entry: paired sequential non-inferiority as a capability task,
    never judged for a gain."""

    metric: str
    planning: Planning
    higher_is_better: bool | None = None
    margin: float | None = None
    alpha: float | None = None
    max_drift: float | None = None


@dataclass(frozen=True, kw_only=True)
class CostLimits:
    """The thresholds' limits on measured cost (each may be absent)."""

    max_gpu_hours: float | None = None
    max_train_tokens: int | None = None
    max_trainable_params: int | None = None
    min_tokens_per_second: float | None = None

    def limits(self) -> dict:
        """The limits that are set, for :func:`modelcfg.config.cost.exceeded`."""
        return _set_fields(self)


@dataclass(frozen=True, kw_only=True)
class LatencyRule:
    """The latency SLO for one adapter: the thresholds' ``latency:`` block with its
    ``adapters.NAME`` entry over it and the code's defaults applied (docs/gate.md)."""

    max_regression: float | None
    max_seconds_per_token: float | None
    alpha: float
    repeats: int
    new_tokens: int


LATENCY_REPEATS, LATENCY_NEW_TOKENS = 12, 16


@dataclass(frozen=True, kw_only=True)
class Sequential:
    """The group-sequential design: how many looks, and the seed mixed into each gate
    run's derived item order (:mod:`modelcfg.gate.order`)."""

    looks: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class TaskRule:
    """How one eval task is judged, with the thresholds' ``defaults`` applied.

    ``higher_is_better`` is what the thresholds wrote (None: nothing); the gate sets it to
    the direction lm-eval recorded (:mod:`modelcfg.gate.direction`) before judging."""

    kind: str  # CAPABILITY, SAFETY or ROBUSTNESS
    metric: str
    margin: float
    alpha: float
    power: float
    higher_is_better: bool | None
    require_gain: bool
    statistic: str
    floor: float | None = None  # safety only
    max_drift: float | None = None  # the cap on drift since the lineage's anchor
    rule: str | None = None     # safety only: no_new_failures or noninferiority
    bootstrap_iters: int = BOOTSTRAP_ITERS


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The gate's thresholds per eval task, its cost limits and sequential design."""

    name: str
    defaults: ThresholdDefaults
    tasks: dict[str, CapabilityThreshold]
    safety: dict[str, SafetyThreshold]
    cost: CostLimits
    sequential: Sequential
    description: str | None = None
    # no schema default: None when the section is absent
    robustness: dict[str, RobustnessThreshold] | None = None
    data: dict = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict) -> Thresholds:
        data = with_defaults("Thresholds", doc)
        return _build(
            cls, data, defaults=_build(ThresholdDefaults, data["defaults"]),
            tasks={t: _build(CapabilityThreshold, e, planning=_build(Planning, e["planning"]))
                   for t, e in data["tasks"].items()},
            safety={t: _build(SafetyThreshold, e) for t, e in data["safety"].items()},
            robustness=None if "robustness" not in data else {
                t: _build(RobustnessThreshold, e, planning=_build(Planning, e["planning"]))
                for t, e in data["robustness"].items()},
            cost=_build(CostLimits, data["cost"]),
            sequential=_build(Sequential, data["sequential"]), data=data)

    def latency_for(self, adapter: str) -> LatencyRule | None:
        """The latency SLO that applies to ``adapter``; None when the thresholds set no limit
        for it (a ``latency:`` block with only ``adapters:`` entries times only those)."""
        block = self.data.get("latency")
        if not block:
            return None
        merged = {k: v for k, v in block.items() if k != "adapters"}
        merged.update((block.get("adapters") or {}).get(adapter) or {})
        if merged.get("max_regression") is None and merged.get("max_seconds_per_token") is None:
            return None
        return LatencyRule(max_regression=merged.get("max_regression"),
                           max_seconds_per_token=merged.get("max_seconds_per_token"),
                           alpha=merged.get("alpha", self.defaults.alpha),
                           repeats=merged.get("repeats", LATENCY_REPEATS),
                           new_tokens=merged.get("new_tokens", LATENCY_NEW_TOKENS))

    def rule(self, task: str) -> TaskRule | None:
        """How ``task`` is judged (a safety entry wins over a robustness one, which wins over
        a capability one; validate reports a task in two sections, MC341), or None when the
        thresholds do not name it. Safety rates are never judged for a gain; a harm rate may
        be lower-is-better (its floor then caps the rate). Robustness is judged as capability
        is, without gain claims."""
        d = self.defaults
        if task in self.safety:
            s = self.safety[task]
            return TaskRule(kind=SAFETY, metric=s.metric, margin=_given(s.margin, d.margin),
                            alpha=_given(s.alpha, d.safety_alpha), power=d.power,
                            higher_is_better=s.higher_is_better, require_gain=False,
                            statistic="mean", floor=s.floor, max_drift=s.max_drift,
                            rule=s.rule)
        if task in (self.robustness or {}):
            r = self.robustness[task]
            return TaskRule(kind=ROBUSTNESS, metric=r.metric, margin=_given(r.margin, d.margin),
                            alpha=_given(r.alpha, d.alpha), power=d.power,
                            higher_is_better=r.higher_is_better, require_gain=False,
                            statistic="mean", max_drift=r.max_drift)
        if task in self.tasks:
            c = self.tasks[task]
            return TaskRule(kind=CAPABILITY, metric=c.metric, margin=_given(c.margin, d.margin),
                            alpha=_given(c.alpha, d.alpha), power=d.power,
                            higher_is_better=c.higher_is_better, require_gain=c.require_gain,
                            statistic=c.statistic, max_drift=c.max_drift)
        return None

    def planning(self, task: str) -> Planning | None:
        """What validate's power check assumes of a capability or robustness task."""
        entry = (self.robustness or {}).get(task) or self.tasks.get(task)
        return None if entry is None else entry.planning

    def to_dict(self) -> dict:
        return copy.deepcopy(self.data)


def _given(value, default):
    """A task entry's own value, else the thresholds' default for it."""
    return default if value is None else value


# --------------------------------------------------------------------------- resolved


@dataclass(frozen=True, kw_only=True)
class ResolvedAdapter:
    """Everything one adapter's training and evaluation need: its config, base model,
    datasets (with where they lie), suites and their tasks, and the contract."""

    adapter: Adapter
    adapter_path: str
    model: Model
    model_parameters: int | None
    datasets: tuple[DatasetRef, ...]
    suites: tuple[EvalSuite, ...]
    tasks: tuple[str, ...]
    contract: Contract | None

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def caps(self) -> Caps:
        """The contract's caps; without a contract, none but the schema's defaults."""
        return self.contract.caps if self.contract is not None else Caps.from_document({})

    def to_dict(self) -> dict:
        """Plain JSON (what a training run's worker processes read back)."""
        return {"adapter": self.adapter.to_dict(), "adapter_path": self.adapter_path,
                "model": self.model.to_dict(), "model_parameters": self.model_parameters,
                "datasets": [d.to_dict() for d in self.datasets],
                "suites": [s.to_dict() for s in self.suites], "tasks": list(self.tasks),
                "contract": None if self.contract is None else self.contract.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> ResolvedAdapter:
        """The inverse of :meth:`to_dict`."""
        contract = data["contract"]
        return cls(adapter=Adapter.from_document(data["adapter"]),
                   adapter_path=data["adapter_path"], model=Model.from_document(data["model"]),
                   model_parameters=data["model_parameters"],
                   datasets=tuple(_build(DatasetRef, d) for d in data["datasets"]),
                   suites=tuple(EvalSuite.from_document(s) for s in data["suites"]),
                   tasks=tuple(data["tasks"]),
                   contract=None if contract is None else Contract.from_document(contract))


def config_key(resolved: ResolvedAdapter) -> str:
    """What the trained result depends on in the configs alone (no library versions): used
    to tell whether a baseline still describes the base commit's config."""
    return sha256_bytes(canonical_json({
        "adapter": result_fields(resolved.adapter.to_dict()),
        "model": result_fields(resolved.model.to_dict()),
        "datasets": [d.pin for d in resolved.datasets]}))
