"""Checks across documents: references, architecture, data pinning, policy and cost.

Each check appends :class:`Problem` values; nothing stops at the first one. The contract and
thresholds documents are the policy the checks enforce (read from the base commit by the
gate, from the working tree by ``modelcfg validate``).
"""

from __future__ import annotations

import hashlib
import json

from modelcfg.config import cost, formats
from modelcfg.config.builtin import BUILTIN
from modelcfg.config.coverage import coverage_problems, unknown_required_suites
from modelcfg.config.lineage import replaces_problems
from modelcfg.config.model import Adapter, Caps, Contract, Thresholds
from modelcfg.config.schema import suggest
from modelcfg.config.tasks import task_config, task_data
from modelcfg.config.threshold_checks import (
    SECTIONS,
    direction_problems,
    metric_problems,
    size_problems,
)
from modelcfg.config.trees import PathProblem
from modelcfg.config.workspace import Document, Workspace
from modelcfg.core import globs
from modelcfg.core.errors import Problem

# A standard lm-eval task; its checks (modelcfg.config.lmeval_checks, and the index they read)
# are imported only when a document names one.
STANDARD = "lm-eval:"
MAX_ALPHA_RATIO = 16.0
MIN_ALPHA_RATIO = 1 / 16


class Checker:
    def __init__(self, ws: Workspace, focus=None, warnings: bool = False):
        self.ws = ws
        self.warnings = warnings  # also the advice that costs a computation (MC324)
        # With a focus (paths the user asked about), per-document checks run only for the
        # documents whose problems could be reported: cheap single-file validation.
        self.focus = focus
        self.problems: list[Problem] = []
        self._datasets: dict[tuple, tuple[str, int] | None] = {}
        self._tasks: dict[str, tuple[list[str], int] | None] = {}
        self._task_configs: dict[str, dict | None] = {}
        self.policy: Contract | None = None  # the valid contract, typed (set by run)
        self.rules: Thresholds | None = None  # the valid thresholds, typed (set by run)
        self.thresholds_path: str | None = None

    def add(self, doc: Document, path: tuple, code: str, message: str) -> None:
        line, col = doc.locate(*path)
        self.problems.append(Problem(doc.path, line, col, code, message))

    # -- whole workspace -------------------------------------------------------------
    def run(self) -> list[Problem]:
        self.check_unique_names()
        contract = self.check_policy("Contract")
        thresholds = self.check_policy("Thresholds")
        self.policy = Contract.from_document(contract.data) if contract is not None else None
        self.rules = (Thresholds.from_document(thresholds.data)
                      if thresholds is not None and thresholds.valid else None)
        self.thresholds_path = thresholds.path if thresholds is not None else None
        if contract is not None and self.in_focus(contract):
            self.check_required_suites(contract)
        for doc in self.ws.documents:
            if not doc.valid or not self.in_focus(doc):
                continue
            if doc.kind == "Model":
                self.check_model(doc, contract)
            elif doc.kind == "Adapter":
                self.check_adapter(doc, contract)
            elif doc.kind == "EvalSuite":
                self.check_suite(doc)
            self.check_forbidden(doc, contract)
        if thresholds is not None and thresholds.valid and self.in_focus(thresholds):
            self.check_thresholds(thresholds)
        return self.problems

    def in_focus(self, doc: Document) -> bool:
        if self.focus is None or self.focus(doc.path):
            return True
        datasets = doc.data.get("datasets") if doc.kind == "Adapter" else None
        return any(self.focus(d.get("path", "")) for d in datasets or [] if isinstance(d, dict))

    def check_unique_names(self) -> None:
        """MC300 on every document of a shared name: none of them resolves, so each copy
        is reported where it can be fixed."""
        for (kind, name), paths in self.ws.ambiguous().items():
            for doc in self.ws.documents:
                if doc.kind == kind and doc.name == name:
                    others = ", ".join(p for p in paths if p != doc.path)
                    self.add(doc, ("name",), "MC300", f"{kind} name {name!r} is also used by "
                             f"{others}; names must be unique per kind (neither resolves "
                             "until one is renamed)")

    def check_policy(self, kind: str) -> Document | None:
        docs = [d for d in self.ws.documents if d.kind == kind]
        if len(docs) > 1:
            for doc in docs[1:]:
                self.add(doc, ("kind",), "MC316", f"a second {kind} document (the first is "
                         f"{docs[0].path}); keep exactly one")
            return None
        if not docs:
            where = "evals/contract.yaml" if kind == "Contract" else "evals/thresholds.yaml"
            self.problems.append(Problem(where, 1, 1, "MC316", f"no {kind} document found; "
                                         f"create {where} (see docs/config-reference.md)"))
            return None
        return docs[0] if docs[0].valid else None

    # -- models ----------------------------------------------------------------------
    def check_model(self, doc: Document, contract: Document | None) -> None:
        source = doc.data["source"]
        known = self.check_family(doc)
        if "path" in source:
            self.check_path(doc, ("source", "path"), source["path"], want_dir=True)
        if "builtin" in source and known:
            spec = BUILTIN[source["builtin"]]
            if doc.data["family"] != spec["family"]:
                self.add(doc, ("family",), "MC302", f"builtin {source['builtin']!r} is a "
                         f"{spec['family']} model, not {doc.data['family']}")
        if contract is not None:
            key = model_source_key(doc.data)
            if not globs.matches_any(self.policy.models.allow, key):
                self.add(doc, ("source",), "MC312", f"model source {key!r} is not in the "
                         f"contract's models.allow ({contract.path}); ask a maintainer to "
                         "allow it or pick an allowed model")
            if doc.data.get("trust_remote_code"):
                if not globs.matches_any(self.policy.trust_remote_code.allow, key):
                    self.add(doc, ("trust_remote_code",), "MC311", "trust_remote_code runs "
                             "code from the model repository; the contract does not allow it "
                             f"for {key!r}. Remove it or ask a maintainer")

    def check_family(self, doc: Document) -> bool:
        """MC330 for a family the architecture table does not know; True when known."""
        from modelcfg.config.architectures import table

        family = doc.data["family"]
        if table.architecture(family) is None:
            known = table.known()
            self.add(doc, ("family",), "MC330", f"unknown family {family!r}"
                     f"{suggest(family, known)}: family is the transformers model_type (the "
                     f"model's config.json 'model_type'); known: {', '.join(known)}. To add "
                     "one, see CONTRIBUTING.md (Architectures)")
            return False
        return True

    # -- adapters --------------------------------------------------------------------
    def check_adapter(self, doc: Document, contract: Document | None) -> None:
        data = doc.data
        model = self.ws.models.get(data["base"])
        missing = self.unresolved("Model", data["base"])
        if missing:
            self.add(doc, ("base",), "MC301", f"base model {data['base']!r} {missing}"
                     f"{suggest(data['base'], self.ws.models)}; define it in "
                     "configs/models/")
        model = model if model is not None and model.valid else None
        adapter = Adapter.from_document(data)
        self.check_lora(doc, model)
        examples = self.check_datasets(doc, adapter.method, contract)
        for i, suite in enumerate(data["evals"]["suites"]):
            missing = self.unresolved("EvalSuite", suite)
            if missing:
                self.add(doc, ("evals", "suites", i), "MC306", f"eval suite {suite!r} "
                         f"{missing}{suggest(suite, self.ws.suites)}; define it in "
                         "evals/suites/")
        self.problems += coverage_problems(self.ws, doc, self.policy, self.rules)
        self.problems += replaces_problems(self.ws, doc)
        if adapter.training.dpo_beta is not None and adapter.method != "dpo":
            self.add(doc, ("training", "dpo_beta"), "MC317", "dpo_beta only applies to "
                     "method: dpo; remove it or set method: dpo")
        self.check_recipe(doc, adapter)
        if model is not None:
            self.check_cost(doc, adapter, model, examples, contract)

    def unresolved(self, kind: str, name: str) -> str | None:
        """Why ``name`` does not resolve to a ``kind`` document, or None when it does (or
        when an unreadable file might be it)."""
        if name in self.ws.of_kind(kind):
            return None
        paths = self.ws.ambiguous().get((kind, name))
        if paths:
            return f"is defined more than once ({', '.join(paths)})"
        return None if self.ws.unreadable else "not found"

    def check_lora(self, doc: Document, model: Document | None) -> None:
        lora = doc.data["lora"]
        r, alpha = lora["r"], lora["lora_alpha"]
        scale = alpha / (r ** 0.5 if lora.get("use_rslora") else r)
        if not MIN_ALPHA_RATIO <= scale <= MAX_ALPHA_RATIO:
            self.add(doc, ("lora", "lora_alpha"), "MC303", f"lora_alpha {alpha} with r {r} "
                     f"scales updates by {scale:g}, outside [{MIN_ALPHA_RATIO:g}, "
                     f"{MAX_ALPHA_RATIO:g}]; the usual choice is lora_alpha = r or 2r")
        if model is None:
            return
        facts = {**BUILTIN.get(model.data["source"].get("builtin"), {}), **model.data}
        self.check_targets(doc, model, facts.get("num_layers"))
        hidden, layers = facts.get("hidden_size"), facts.get("num_layers")
        if hidden is not None and r > hidden:
            self.add(doc, ("lora", "r"), "MC303", f"rank {r} exceeds the model's hidden size "
                     f"{hidden}; a LoRA rank above it adds parameters and no capacity")
        chosen = lora.get("layers_to_transform")
        if layers is not None and chosen is not None:
            for i, layer in enumerate([chosen] if isinstance(chosen, int) else chosen):
                if layer >= layers:
                    where = ("lora", "layers_to_transform") + (() if isinstance(chosen, int)
                                                               else (i,))
                    self.add(doc, where, "MC303", f"layer {layer} does not exist; the model "
                             f"has layers 0..{layers - 1}")

    def check_targets(self, doc: Document, model: Document, num_layers: int | None) -> None:
        """MC302/MC331/MC332: what peft would adapt on the model's real module paths
        (modelcfg.config.architectures.match); nothing when the family is unknown (MC330)."""
        from modelcfg.config.architectures import match, table

        family = model.data["family"]
        if table.architecture(family) is None:
            return
        for f in match.findings(doc.data["lora"], family, num_layers):
            self.add(doc, f.where, f.code, f.message)

    def check_datasets(self, doc: Document, method: str, contract: Document | None
                       ) -> int | None:
        """Check each dataset; returns the total example count (None if unknown)."""
        total: int | None = 0
        for i, entry in enumerate(doc.data["datasets"]):
            where = ("datasets", i)
            key = f"path:{entry['path']}" if "path" in entry else f"hub:{entry['hub']}"
            if contract is not None and not globs.matches_any(self.policy.datasets.allow, key):
                self.add(doc, where, "MC313", f"dataset {key!r} is not in the contract's "
                         f"datasets.allow ({contract.path})")
            if "hub" in entry:
                count = entry.get("examples")
            else:
                count = self.check_dataset_file(doc, where, entry, method)
            total = None if (total is None or count is None) else total + count
        return total

    def check_dataset_file(self, doc: Document, where: tuple, entry: dict,
                           method: str) -> int | None:
        rel = entry["path"]
        if not self.check_path(doc, where + ("path",), rel, want_dir=False):
            return None
        fmt = entry.get("format") or formats.default_format(method)
        if fmt not in formats.METHOD_FORMATS[method]:
            fmt = None  # MC339 (check_recipe); the records are counted, not checked
        layout = (rel, fmt, tuple(sorted((entry.get("fields") or {}).items())))
        if layout not in self._datasets:
            self._datasets[layout] = self._scan_dataset(*layout)
        scanned = self._datasets[layout]
        if scanned is None:
            return None
        digest, count = scanned
        if digest != entry["sha256"]:
            self.add(doc, where + ("sha256",), "MC305", f"{rel} has sha256 {digest}, not the "
                     "pinned value; if the data change is intended, update sha256")
        return count

    def _scan_dataset(self, rel: str, fmt: str | None, fields: tuple
                      ) -> tuple[str, int] | None:
        data = self.ws.tree.read(rel)
        count = 0
        for lineno, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                self.problems.append(Problem(rel, lineno, 1, "MC317", f"not a JSON object: "
                                             f"{exc}"))
                return None
            problem = fmt and formats.record_problem(record, fmt, dict(fields))
            if problem:
                self.problems.append(Problem(rel, lineno, 1, "MC317", problem))
                return None
            count += 1
        return hashlib.sha256(data).hexdigest(), count

    def check_recipe(self, doc: Document, adapter: Adapter) -> None:
        """The training fields that only make sense together: a record layout the method
        trains on, ``fields`` naming the layout's own names, messages rendered by a chat
        template (MC338), training data left to train on, one source of validation data."""
        method, training = adapter.method, adapter.training
        template = training.chat_template or "none"
        for i, d in enumerate(adapter.datasets):
            fmt = d.record_format(method)
            if fmt not in formats.METHOD_FORMATS[method]:
                self.add(doc, ("datasets", i, "format"), "MC339", f"format {fmt} is not for "
                         f"method: {method}, which reads "
                         f"{' or '.join(formats.METHOD_FORMATS[method])}")
                continue
            for name in d.fields or {}:
                if name not in formats.FORMAT_NAMES[fmt]:
                    self.add(doc, ("datasets", i, "fields", name), "MC339", f"format {fmt} "
                             f"has no field {name!r}; it reads "
                             f"{', '.join(formats.FORMAT_NAMES[fmt])}")
            if fmt == "messages" and template == "none":
                self.add(doc, ("datasets", i, "format"), "MC338", "messages need a chat "
                         "template to become text; set training.chat_template: tokenizer "
                         "(the base tokenizer's own) or chatml")
        roles = [d.is_validation for d in adapter.datasets]
        if all(roles):
            self.add(doc, ("datasets",), "MC339", "every dataset has role: validation; "
                     "nothing is left to train on")
        if any(roles) and training.validation_fraction is not None:
            self.add(doc, ("training", "validation_fraction"), "MC339", "validation_fraction "
                     "and a dataset with role: validation both name validation data; keep "
                     "one")

    def check_path(self, doc: Document, where: tuple, rel: str, want_dir: bool) -> bool:
        tree = self.ws.tree
        try:
            ok = tree.is_dir(rel) if want_dir else tree.is_file(rel)
        except PathProblem as exc:
            self.add(doc, where, "MC308", str(exc))
            return False
        if not ok:
            self.add(doc, where, "MC304", f"{rel} does not exist in the repository "
                     f"({'a folder' if want_dir else 'a file'} is expected)")
        return ok

    def check_cost(self, doc: Document, adapter: Adapter, model: Document,
                   examples: int | None, contract: Document | None) -> None:
        typed = self.policy.caps if self.policy is not None else Caps.from_document({})
        caps = typed.limits()
        try:
            est = cost.estimate(adapter.training, model_parameters(model.data), examples,
                                typed.assumed_tflops)
        except cost.CostUnknown as exc:
            self.add(doc, ("training",), "MC315", f"cannot estimate training cost: {exc}")
            return
        budget, figures = adapter.budget.limits(), est.to_dict()
        for field, value, limit in cost.exceeded(figures, budget):
            self.add(doc, ("budget", field), "MC309", f"estimated {value:,.6g} "
                     f"{cost.LIMITS[field][1]} exceed the budget's {field} {limit:,}; lower "
                     "max_steps/epochs, batch or sequence length, or raise the budget")
        for field, value, cap in cost.exceeded(figures, caps):
            self.add(doc, ("budget",), "MC310", f"estimated {value:,.6g} {cost.LIMITS[field][1]} "
                     f"exceed the contract's cap {field} {cap:,} ({contract.path})")
        as_figures = {cost.LIMITS[k][0]: v for k, v in budget.items() if k in cost.LIMITS}
        for field, limit, cap in cost.exceeded(as_figures, caps):
            self.add(doc, ("budget", field), "MC310", f"budget {field} {limit:,} is above "
                     f"the contract's cap {cap:,} ({contract.path})")
        max_rank = typed.max_lora_rank
        if max_rank is not None and adapter.lora.r > max_rank:
            self.add(doc, ("lora", "r"), "MC310", f"rank {adapter.lora.r} is above the "
                     f"contract's max_lora_rank {max_rank} ({contract.path})")

    # -- suites, thresholds, contract --------------------------------------------------
    def check_required_suites(self, contract: Document) -> None:
        if self.ws.unreadable:
            return  # a suite may be in a file that does not parse
        required = list(self.policy.required_suites)
        for name in unknown_required_suites(self.ws, self.policy):
            self.add(contract, ("required_suites", required.index(name)), "MC306",
                     f"required eval suite {name!r} not found"
                     f"{suggest(name, self.ws.suites)}; define it in evals/suites/")
        for adapter, names in (self.policy.adapter_suites or {}).items():
            for i, name in enumerate(names):
                if name not in self.ws.suites:
                    self.add(contract, ("adapter_suites", adapter, i), "MC306",
                             f"eval suite {name!r} required of adapter {adapter!r} not found"
                             f"{suggest(name, self.ws.suites)}; define it in evals/suites/")

    def check_suite(self, doc: Document) -> None:
        for i, task in enumerate(doc.data["tasks"]):
            if task.startswith(STANDARD):
                known = self.check_standard_task(doc, ("tasks", i), task)
            else:
                known = self.check_task(doc, ("tasks", i), task)
            if known:
                self.check_judged(doc, ("tasks", i), task)

    def check_standard_task(self, doc: Document, where: tuple, task: str) -> bool:
        """MC333 for an ``lm-eval:`` name the pinned lm-eval has no task for."""
        from modelcfg.config import lmeval_checks

        problem = lmeval_checks.name_problem(task)
        if problem is not None:
            self.add(doc, where, "MC333", problem)
        return problem is None

    def check_judged(self, doc: Document, where: tuple, task: str) -> None:
        """MC335 for a suite task the (valid) thresholds do not judge: the gate would refuse
        it (MC816); validate says so first, where the suite names it."""
        if self.rules is None or self.rules.rule(task) is not None:
            return
        hint = ""
        if task.startswith(STANDARD):
            from modelcfg.config import lmeval_checks

            hint = lmeval_checks.metrics_hint(task)
        self.add(doc, where, "MC335", f"task {task!r} has no entry in the thresholds "
                 f"({self.thresholds_path}); the gate judges no task without a rule (MC816): "
                 f"add one under tasks: or safety: naming its metric{hint}")

    def check_task(self, doc: Document, where: tuple, task: str) -> bool:
        try:
            exists = self.ws.tree.is_dir(f"evals/tasks/{task}")
        except PathProblem as exc:
            self.add(doc, where, "MC308", str(exc))
            return False
        if not exists:
            known = local_tasks(self.ws)
            self.add(doc, where, "MC307", f"eval task {task!r} not found in evals/tasks/"
                     f"{suggest(task, known)}")
            return False
        data = self.task_items(task)
        if data is not None and data[1] == 0:
            self.add(doc, where, "MC320", f"eval task {task!r} has no items: "
                     f"{', '.join(data[0])} {'is' if len(data[0]) == 1 else 'are'} empty; "
                     "add items or remove the task from the suite")
        return True

    def task_config(self, task: str) -> dict | None:
        """A local task's YAML config (read once), or None."""
        if task not in self._task_configs:
            known = not task.startswith(STANDARD)
            self._task_configs[task] = task_config(self.ws.tree, task) if known else None
        return self._task_configs[task]

    def task_items(self, task: str) -> tuple[list[str], int] | None:
        """A local task's data files and item count (counted once), or None."""
        if task not in self._tasks:
            config = self.task_config(task)
            self._tasks[task] = None if config is None else task_data(self.ws.tree, task,
                                                                      config)
        return self._tasks[task]

    def check_thresholds(self, doc: Document) -> None:
        suite_tasks = {t for s in self.ws.suites.values() if isinstance(s.data.get("tasks"), list)
                       for t in s.data["tasks"] if isinstance(t, str)}
        for section in SECTIONS:
            for task in doc.data.get(section, {}):
                if task not in suite_tasks:
                    self.add(doc, (section, task), "MC307", f"threshold for task {task!r}, "
                             "which no eval suite runs"
                             f"{suggest(task, suite_tasks)}")
        self.check_one_kind(doc)
        self.problems += direction_problems(doc, self.task_config)
        self.problems += metric_problems(doc)
        if self.warnings and self.rules is not None:
            self.problems += size_problems(doc, self.rules, self.items, self.task_config)
        self.check_drift_caps(doc)
        self.check_latency(doc)

    def check_latency(self, doc: Document) -> None:
        """MC345: a latency block whose ``repeats`` are too few for an interval at its
        ``alpha`` (the gate would block every change with MC852), for the global block and
        each ``adapters`` entry (its own values over the global ones)."""
        from modelcfg.config.model import LATENCY_REPEATS
        from modelcfg.core.order_statistics import min_pairs, order_k

        block = doc.data.get("latency")
        if not isinstance(block, dict) or self.rules is None:
            return
        default_alpha = self.rules.defaults.alpha
        # (where, the mapping written there, the rule in force there)
        places = [(("latency",), block, block)]
        places += [(("latency", "adapters", name), entry, {**block, **entry})
                   for name, entry in (block.get("adapters") or {}).items()
                   if isinstance(entry, dict)]
        for where, written, rule in places:
            repeats = rule.get("repeats", LATENCY_REPEATS)
            alpha = rule.get("alpha", default_alpha)
            if order_k(repeats, alpha) == 0:
                at = where + ("repeats",) if "repeats" in written else where
                self.add(doc, at, "MC345", f"{repeats} latency timing pair(s) are too few for "
                         f"an interval at alpha {alpha:g}: at least {min_pairs(alpha)} are "
                         "needed (the gate would block every change, MC852); raise repeats")

    def check_one_kind(self, doc: Document) -> None:
        """MC341: a task under robustness: and also under tasks: or safety: would be judged
        by one rule while its author reads another; each task has one kind."""
        for task in doc.data.get("robustness") or {}:
            others = [s for s in ("tasks", "safety") if task in (doc.data.get(s) or {})]
            if others:
                self.add(doc, ("robustness", task), "MC341", f"task {task!r} is under "
                         f"robustness: and {' and '.join(o + ':' for o in others)}; a task is "
                         "judged by one kind: keep it in one section (a robustness task is "
                         "its own task, e.g. a perturbed copy of a capability task)")

    def check_drift_caps(self, doc: Document) -> None:
        """MC325: a ``max_drift`` below its task's margin would block a candidate that is
        within the margin of an anchor-valued baseline: the cap must leave at least one
        margin of room (docs/config-reference.md, "Thresholds")."""
        for section in SECTIONS:
            for task, entry in (getattr(self.rules, section) or {}).items():
                margin = entry.margin if entry.margin is not None else self.rules.defaults.margin
                if entry.max_drift is not None and entry.max_drift < margin:
                    self.add(doc, (section, task, "max_drift"), "MC325", f"max_drift "
                             f"{entry.max_drift:g} of task {task!r} is below its margin "
                             f"{margin:g}: one promotion the gate lets through could pass "
                             "the cap; set max_drift to at least the margin (e.g. twice it)")

    def items(self, task: str) -> int | None:
        data = self.task_items(task)
        return None if data is None else data[1]

    def check_forbidden(self, doc: Document, contract: Document | None) -> None:
        if contract is None:
            return
        for rule in self.policy.forbidden_fields:
            kind, _, dotted = rule.partition(".")
            if kind != doc.kind or not dotted:
                continue
            value, path = doc.data, []
            for part in dotted.split("."):
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
                path.append(part)
            else:
                if value not in (None, False):
                    self.add(doc, tuple(path), "MC314", f"{dotted} is forbidden by the "
                             f"contract ({contract.path}); remove it")


def model_source_key(model: dict) -> str:
    source = model["source"]
    if "builtin" in source:
        return f"builtin:{source['builtin']}"
    if "hub" in source:
        return f"hub:{source['hub']['id']}"
    return f"path:{source['path']}"


def model_parameters(model: dict) -> int | None:
    if "parameters" in model:
        return model["parameters"]
    builtin = model["source"].get("builtin")
    return BUILTIN[builtin]["parameters"] if builtin else None


def local_tasks(ws: Workspace) -> list[str]:
    try:
        return ws.tree.list_dir("evals/tasks") if ws.tree.is_dir("evals/tasks") else []
    except PathProblem:
        return []


def check_workspace(ws: Workspace, focus=None, warnings: bool = False) -> list[Problem]:
    """Every cross-file problem; with ``focus(path) -> bool``, only those it can select.
    ``warnings`` adds the advice that costs a computation (`modelcfg validate` only)."""
    return Checker(ws, focus, warnings).run()
