"""One adapter resolved for training and evaluation: its config, base model, data and tasks."""

from __future__ import annotations

from modelcfg.config.checks import check_workspace, model_parameters
from modelcfg.config.model import Adapter, DatasetRef, EvalSuite, Model, ResolvedAdapter
from modelcfg.config.workspace import Workspace
from modelcfg.core.errors import Problem, UserError


def resolve_adapter(ws: Workspace, name_or_path: str,
                    problems: list[Problem] | None = None) -> ResolvedAdapter:
    """Everything one adapter's training and evaluation need, as typed values.

    Refuses (MC403) when the workspace has problems that touch this adapter, its base
    model, its suites or the policy: never train or judge on top of an invalid config.
    ``problems`` are the workspace's problems when the caller has checked it already.
    """
    doc = ws.find(name_or_path, "Adapter")
    model = ws.models.get(doc.data.get("base"))
    suites = [s for s in (ws.suites.get(n) for n in doc.data.get("evals", {}).get("suites", []))
              if s is not None]
    involved = {doc.path} | {d.path for d in [model, *suites] if d is not None}
    involved |= {d.path for d in ws.documents if d.kind in ("Contract", "Thresholds")}
    involved |= {d["path"] for d in doc.data.get("datasets", []) if isinstance(d, dict)
                 and isinstance(d.get("path"), str)}
    if problems is None:
        problems = ws.problems + check_workspace(ws)
    problems = [p for p in problems if p.path in involved]
    if problems:
        first = problems[0]
        raise UserError("MC403", f"{doc.path} is not valid ({len(problems)} problem(s); first: "
                        f"{first.render()}); run `modelcfg validate`", path=doc.path,
                        line=1, col=1)
    wanted = [("Model", doc.data.get("base"), model)] + [
        ("EvalSuite", n, ws.suites.get(n)) for n in doc.data.get("evals", {}).get("suites", [])]
    for kind, name, found in wanted:
        if found is None:  # never train or judge with a piece left out
            raise UserError("MC403", f"{kind} {name!r} does not resolve (not "
                            "found, unreadable or defined twice); run `modelcfg validate`",
                            path=doc.path, line=1, col=1)
    datasets = tuple(_dataset(ws, entry) for entry in doc.data["datasets"])
    tasks: list[str] = []
    for suite in suites:
        tasks += [t for t in suite.data["tasks"] if t not in tasks]
    return ResolvedAdapter(
        adapter=Adapter.from_document(doc.data), adapter_path=doc.path,
        model=Model.from_document(model.data), model_parameters=model_parameters(model.data),
        datasets=datasets, suites=tuple(EvalSuite.from_document(s.data) for s in suites),
        tasks=tuple(tasks), contract=ws.contract())


def _dataset(ws: Workspace, entry: dict) -> DatasetRef:
    """A dataset entry with where its file lies, when the tree is on disk."""
    abs_path = None
    if "path" in entry and hasattr(ws.tree, "local_path"):
        abs_path = str(ws.tree.local_path(entry["path"]))
    return DatasetRef.from_document(entry, abs_path)
