"""What a ``lora:`` section adapts on an architecture, decided as peft's LoRA decides it.

Mirrors ``peft.tuners.tuners_utils.BaseTuner.inject_adapter`` of the pinned peft over the
committed module table (torch-free):

- ``LoraConfig`` refuses ``layers_to_transform``/``layers_pattern`` with a string
  ``target_modules`` and ``layers_pattern`` without ``layers_to_transform``;
- for MoE models whose experts transformers 5 fuses into parameters, peft first renames v4
  expert targets to parameters (``convert_peft_config_for_transformers``);
- ``all-linear`` is every ``nn.Linear``/``Conv1D`` but the output head; a string is
  ``re.fullmatch`` over the full module path; a list entry is the full path or a
  ``.``-suffix of it; ``exclude_modules`` and ``modules_to_save`` exclude first, and
  ``layers_to_transform`` keeps the chosen layer indexes;
- a selected module peft cannot wrap (a norm, an attention block) is an error; so is
  ``lora_dropout`` (or ``fan_in_fan_out``) with a targeted parameter; adapting nothing is an
  error.

validate is stricter than peft in one way, on purpose: a list entry (or a target parameter)
that selects nothing is reported even when other entries adapt something (peft ignores it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelcfg.config.architectures.table import LINEAR, WRAPPABLE, architecture, modules

ALL_LINEAR = "all-linear"


@dataclass
class Finding:
    where: tuple
    code: str
    message: str


@dataclass
class Plan:
    modules: list[str] = field(default_factory=list)  # adapted module paths
    parameters: list[str] = field(default_factory=list)  # adapted parameter names
    findings: list[Finding] = field(default_factory=list)


def _suffix(key: str, name: str) -> bool:
    return key == name or key.endswith("." + name)


def candidates(model_type: str) -> list[str]:
    """Leaf names of the modules LoRA can adapt, the output head and embeddings last."""
    arch = architecture(model_type)
    leaves = {r.path.rsplit(".", 1)[-1]: r.kind for r in arch.rows if r.kind in WRAPPABLE}
    head = arch.head.rsplit(".", 1)[-1] if arch.head else None
    linear = [n for n, k in leaves.items() if k in LINEAR and n != head]
    return linear + [n for n in leaves if n not in linear]


def fused_parameters(model_type: str) -> list[str]:
    """Parameter names of fused-expert containers (modules peft cannot wrap holding 3-D
    expert weights), e.g. ``gate_up_proj``, ``down_proj``."""
    arch = architecture(model_type)
    return sorted({p for r in arch.rows if r.kind == "N" and "expert" in r.cls.lower()
                   for p in r.params})


class _Matcher:
    def __init__(self, lora: dict, model_type: str, num_layers: int | None):
        self.lora = lora
        self.model_type = model_type
        self.arch = architecture(model_type)
        self.rows = modules(model_type, num_layers)
        self.plan = Plan()
        self.fan_in_fan_out = bool(lora.get("fan_in_fan_out"))

    def add(self, where: tuple, code: str, message: str) -> None:
        self.plan.findings.append(Finding(where, code, message))

    # -- peft's check_target_module_exists --------------------------------------------
    def excluded(self, key: str) -> bool:
        exclude = self.lora.get("exclude_modules")
        if exclude:
            if isinstance(exclude, str):
                if re.fullmatch(exclude, key):
                    return True
            elif any(_suffix(key, e) for e in exclude):
                return True
        return any(re.match(rf"(^|.*\.){m}($|\..*)", key)
                   for m in self.lora.get("modules_to_save") or [])

    def in_layers(self, key: str) -> bool:
        chosen = self.lora.get("layers_to_transform")
        if chosen is None:
            return True
        pattern = self.lora.get("layers_pattern")
        if not pattern:
            match = re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", key)
        else:
            match = None
            for p in [pattern] if isinstance(pattern, str) else pattern:
                match = re.match(rf"(?:^|.*?\.){p}\.(?P<idx>\d+)\.", key)
                if match is not None:
                    break
        if match is None:
            return False
        index = int(match.group("idx"))
        return index == chosen if isinstance(chosen, int) else index in chosen

    # -- the steps of inject_adapter ---------------------------------------------------
    def run(self) -> Plan:
        lora, targets = self.lora, self.lora["target_modules"]
        if not self.config_ok(targets):
            return self.plan
        # (pattern-or-name, where it came from) for modules and for parameters
        regex = isinstance(targets, str) and targets.lower() != ALL_LINEAR
        if isinstance(targets, str):
            names = [(targets, ("lora", "target_modules"))]
        else:
            names = [(t, ("lora", "target_modules", i)) for i, t in enumerate(targets)]
        params = [(t, ("lora", "target_parameters", i))
                  for i, t in enumerate(lora.get("target_parameters") or [])]
        if self.arch.moe_conversion is not None:
            converted = self.convert(targets, names, params)
            if converted is None:
                return self.plan
            names, regex = converted
        elif isinstance(targets, str) and not regex:
            where = ("lora", "target_modules")
            names = [(r.path, where) for r in self.rows
                     if r.kind in LINEAR and r.path != self.arch.head]
        hits = self.match_modules(names, regex)
        hits += self.match_parameters(params)
        self.report_dead(targets, names, params, hits, regex)
        return self.plan

    def config_ok(self, targets) -> bool:
        lora, ok = self.lora, True
        if isinstance(targets, str):
            for key in ("layers_to_transform", "layers_pattern"):
                if lora.get(key) is not None:
                    self.add(("lora", key), "MC332", f"{key} cannot be used with a string "
                             "target_modules (a regex or all-linear): peft refuses it; list "
                             "the module names instead, or put the layer indexes in the regex")
                    ok = False
        if lora.get("layers_pattern") and lora.get("layers_to_transform") is None:
            self.add(("lora", "layers_pattern"), "MC332", "layers_pattern needs "
                     "layers_to_transform (peft refuses it alone); add the layer indexes or "
                     "remove layers_pattern")
            ok = False
        patterns = [(targets, ("lora", "target_modules"))] if isinstance(targets, str) else []
        exclude = lora.get("exclude_modules")
        if isinstance(exclude, str):
            patterns.append((exclude, ("lora", "exclude_modules")))
        patterns += [(m, ("lora", "modules_to_save", i))
                     for i, m in enumerate(lora.get("modules_to_save") or [])]
        for pattern, where in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.add(where, "MC302", f"{pattern!r} is not a valid regular expression: "
                         f"{exc}")
                ok = False
        return ok

    def convert(self, targets, names, params) -> list | None:
        """peft's ``_convert_peft_config_moe``: v4 expert names become target parameters.
        Returns the remaining module targets and whether they are one regex, or None on an
        error."""
        mapping = self.arch.moe_conversion["mapping"]
        fused = self.arch.moe_conversion["fused"]
        if isinstance(targets, str):
            leaves = self.resolve_string(targets, mapping)
            if not leaves:  # peft leaves the string as it is
                return names, True
            names = [(leaf, ("lora", "target_modules")) for leaf in sorted(leaves)]
        remaining, present = [], {new: set() for new in fused}
        for target, where in names:
            for old, new in mapping.items():
                if _suffix(target, old):
                    params.append((new, where))
                    if new in fused:
                        present[new].add(old)
                    break
            else:
                remaining.append((target, where))
        for new, required in fused.items():
            if 0 < len(present[new]) < len(required):
                missing = ", ".join(sorted(set(required) - present[new]))
                self.add(("lora", "target_modules"), "MC302", f"{self.model_type} fuses "
                         f"{', '.join(required)} into one parameter ({new}); peft refuses "
                         f"{', '.join(sorted(present[new]))} without {missing}: target all "
                         "of them or none")
                return None
        return remaining, False

    def resolve_string(self, targets: str, mapping: dict) -> set[str]:
        if targets.lower() == ALL_LINEAR:
            linear = {r.path.rsplit(".", 1)[-1] for r in self.rows
                      if r.kind in LINEAR and r.path != self.arch.head}
            return linear | set(mapping)
        keys = [r.path for r in self.rows]
        keys += [f"{r.path}.{p}" for r in self.rows for p in r.params]
        matched = {k.rsplit(".", 1)[-1] for k in keys
                   if not self.excluded(k) and re.fullmatch(targets, k)}
        containers: dict[str, set[str]] = {}
        for r in self.rows:
            for p in r.params:
                containers.setdefault(p, set()).add(r.path)
        for old, new in mapping.items():
            if old not in matched and any(
                    not self.excluded(f"{c}.{old}") and re.fullmatch(targets, f"{c}.{old}")
                    for c in containers.get(new, ())):
                matched.add(old)
        return matched

    def match_modules(self, names, regex: bool) -> list:
        """Adapt what the module targets select; returns (where, path, excluded) hits."""
        hits = []
        for row in self.rows:
            key = row.path
            if regex:
                found = [where for pattern, where in names if re.fullmatch(pattern, key)]
            else:
                found = [where for name, where in names if _suffix(key, name)]
                if found and not self.in_layers(key):
                    found = []
            if not found:
                continue
            excluded = self.excluded(key)
            hits += [(where, key, excluded) for where in found]
            if excluded:
                continue
            if row.kind not in WRAPPABLE:
                for where in dict.fromkeys(found):
                    self.add(where, "MC302", f"selects {key}, a {row.cls}: peft's LoRA wraps "
                             "only linear layers (and Embedding, Conv, MultiheadAttention), "
                             f"it refuses this one; {self.hint()}")
                return hits  # peft stops at the first module it cannot wrap
            self.plan.modules.append(key)
            if row.kind == "L":
                self.fan_in_fan_out = False  # peft resets it, with a warning
            elif row.kind == "C":
                self.fan_in_fan_out = True  # GPT-2 style Conv1D: peft sets it itself
        return hits

    def match_parameters(self, params) -> list:
        hits, adapted = [], set(self.plan.modules)
        for row in self.rows:
            for p in row.params:
                key = f"{row.path}.{p}"
                found = [where for name, where in params if _suffix(key, name)]
                if not found:
                    continue
                hits += [(where, key, False) for where in found]
                where = found[0]
                if row.path in adapted:
                    self.add(where, "MC332", f"selects {key}, a parameter of {row.path}, "
                             "which target_modules already adapts; peft refuses both on one "
                             "layer: remove one of them")
                    return hits
                if self.lora.get("lora_dropout"):
                    self.add(("lora", "lora_dropout"), "MC331", f"peft refuses lora_dropout "
                             f"{self.lora['lora_dropout']:g} when LoRA adapts a parameter "
                             f"({key}, selected by {'.'.join(map(str, where))}): set "
                             "lora_dropout: 0")
                    return hits
                if self.fan_in_fan_out:
                    self.add(where, "MC332", f"peft refuses fan_in_fan_out for a target "
                             f"parameter ({key}); remove fan_in_fan_out or the Conv1D "
                             "targets")
                    return hits
                self.plan.parameters.append(key)
        return hits

    def report_dead(self, targets, names, params, hits, regex: bool) -> None:
        if any(f.code for f in self.plan.findings):
            return
        live = {where for where, _, excluded in hits if not excluded}
        seen = {where for where, _, _ in hits}
        every = {where for _, where in names} | {where for _, where in params}
        if isinstance(targets, str) and (self.plan.modules or self.plan.parameters):
            every = {w for w in every if w != ("lora", "target_modules")}
        if not self.plan.modules and not self.plan.parameters and isinstance(targets, str):
            every.add(("lora", "target_modules"))
        for where in sorted(every - live, key=str):
            value = self.value(where)
            if where in seen:
                why = f"{value!r}: every module it selects is excluded (exclude_modules, " \
                      "modules_to_save)"
            elif where[1] == "target_parameters":
                why = f"{value!r} matches no parameter of {self.model_type} (a full " \
                      "parameter name or a '.'-suffix of one, e.g. mlp.experts.gate_up_proj)"
            elif isinstance(value, str) and where == ("lora", "target_modules") and regex:
                why = f"pattern {value!r} matches no module of {self.model_type}: peft " \
                      "full-matches a string against whole module paths such as " \
                      f"{self.example()!r} (use a list for names)"
            else:
                why = f"{value!r} selects no module of {self.model_type}"
                if self.lora.get("layers_to_transform") is not None:
                    why += " in the layers_to_transform layers"
            if where[1] == "target_modules" and where not in seen and not isinstance(
                    self.lora["target_modules"], str):
                from modelcfg.config.schema import suggest

                why += suggest(value, candidates(self.model_type))
            self.add(where, "MC302", f"{why}; {self.hint()}")

    def value(self, where: tuple):
        value = self.lora
        for part in where[1:]:
            value = value[part]
        return value

    def example(self) -> str:
        linear = [r.path for r in self.rows if r.kind in LINEAR and r.path != self.arch.head]
        return linear[0] if linear else self.rows[0].path

    def hint(self) -> str:
        text = f"{self.model_type} layers LoRA can adapt: {', '.join(candidates(self.model_type))}"
        fused = fused_parameters(self.model_type)
        if fused:
            text += (f"; its experts are fused parameters ({', '.join(fused)}): target them "
                     "with lora.target_parameters")
        return text


def plan(lora: dict, model_type: str, num_layers: int | None = None) -> Plan:
    """What peft would adapt (module paths, parameter names) and the problems found."""
    return _Matcher(lora, model_type, num_layers).run()


def save_findings(lora: dict, model_type: str, num_layers: int | None = None
                  ) -> list[Finding]:
    """modules_to_save entries that name no module (peft silently saves nothing)."""
    paths = [r.path for r in modules(model_type, num_layers)]
    return [Finding(("lora", "modules_to_save", i), "MC302", f"{name!r} matches no module "
                    f"of {model_type}; peft would save nothing (it matches the end of a "
                    f"module path, e.g. {architecture(model_type).head or paths[-1]!r})")
            for i, name in enumerate(lora.get("modules_to_save") or [])
            if not any(p.endswith(name) for p in paths)]


# Layers assumed when the Model declares none, to tell "no such module" from "only in layers
# beyond the table's tiny depth" (a real model is deeper; validate cannot know how deep).
UNKNOWN_DEPTH = 256


def findings(lora: dict, model_type: str, num_layers: int | None = None) -> list[Finding]:
    """Every problem with ``lora`` on the architecture (:func:`plan`, :func:`save_findings`).

    Without ``num_layers`` only the table's tiny layers are known: a selection that finds
    modules once the model is deeper is reported as "set num_layers", not as a wrong name
    (a real model's layer 20 exists; validate cannot tell whether yours does)."""
    def found(layers):
        return plan(lora, model_type, layers).findings + save_findings(lora, model_type, layers)

    shallow = found(num_layers)
    if num_layers is not None or not shallow:
        return shallow
    deep = {(f.where, f.code) for f in found(UNKNOWN_DEPTH)}
    tiny = architecture(model_type).tiny_layers
    return [f if (f.where, f.code) in deep else Finding(
        f.where, f.code, f"selects modules only in layers validate cannot see: the Model "
        f"declares no num_layers, so validate knows {model_type} layers 0..{tiny - 1} only; "
        "set num_layers in the Model document (its config.json num_hidden_layers) so the "
        "layer indexes can be checked") for f in shallow]

