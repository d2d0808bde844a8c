"""The ``modelcfg`` command line: parse, call one library function, render, exit.

Exit codes: 0 success / valid / pass; 1 problems found, a user error, or a gate block;
2 usage errors (and gate errors, which also block); 3 an unexpected internal error (with a
traceback, please report it); 130 interrupted. Library code never prints or exits: it
returns data or raises :class:`~modelcfg.core.errors.UserError`, rendered here.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from modelcfg import __version__
from modelcfg.core.errors import UserError
from modelcfg.core.extras import missing_extra, require

app = typer.Typer(
    name="modelcfg",
    help="Validate, train, evaluate and gate changes to YAML model and LoRA configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _json_out(kind: str, doc: dict) -> None:
    """Print one versioned JSON output (modelcfg.cli.outputs)."""
    from modelcfg.cli.outputs import dumps

    sys.stdout.write(dumps(kind, doc))


def _text_or_json(fmt: "Format", command: str) -> bool:
    """True for json; MC050 for github (this command writes no annotations)."""
    if fmt is Format.github:
        from modelcfg.cli.outputs import no_github

        raise no_github(command)
    return fmt is Format.json


def _root(root: Optional[Path]) -> Path:
    from modelcfg.config.workspace import repo_root

    return (root or repo_root(Path.cwd())).resolve()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelcfg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Validate, train, evaluate and gate changes to YAML model and LoRA configs."""


@app.command()
def validate(
    paths: list[Path] = typer.Argument(None, help="Files or folders to report on (default: "
                                       "the whole repository)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text: path:line:col: CODE "
                               "message; json: for agents; github: Actions annotations."),
    root: Optional[Path] = typer.Option(None, help="Repository root (default: the enclosing "
                                        "git work tree)."),
) -> None:
    """Check configs: YAML safety, schema, cross-file references, data pins, policy, cost.

    Exit 0 when valid (warnings alone leave it valid), 1 when any error was found, 2 on
    usage errors.
    """
    from modelcfg.cli.render import RENDERERS
    from modelcfg.config.validate import validate as run

    problems = run(_root(root), paths or [], warnings=True)
    errors = sum(1 for p in problems if p.is_error)
    sys.stdout.write(RENDERERS[fmt.value](problems))
    if fmt is Format.text and not errors:
        typer.echo("ok: no problems found" if not problems else
                   f"ok: no errors ({len(problems)} warning(s))", err=True)
    raise typer.Exit(1 if errors else 0)


@app.command()
def schema(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write "
                                       "<kind>.schema.json files into (default: print)."),
    kind: Optional[str] = typer.Argument(None, help="One kind: Model, Adapter, EvalSuite, "
                                         "Contract, Thresholds."),
    output: Optional[str] = typer.Option(None, "--output", help="Print the JSON Schema of "
                                         "a command's --format json output instead (KIND: "
                                         "see --list-outputs)."),
    list_outputs: bool = typer.Option(False, "--list-outputs", help="List the output kinds "
                                      "and the commands that write them."),
) -> None:
    """Print or write the JSON Schemas (draft 2020-12) of the config kinds, for editors, or
    of the commands' JSON outputs (--output KIND, --list-outputs; docs/json.md)."""
    from modelcfg.config.schema import schema_texts
    from modelcfg.core.atomic import write_text

    if list_outputs or output is not None:
        from modelcfg.cli.outputs import OUTPUTS, format_of, output_schema_text

        if output is not None:
            sys.stdout.write(output_schema_text(output))
        else:
            for name, command in OUTPUTS.items():
                typer.echo(f"{name:<20} {format_of(name):<32} {command}")
        return

    texts = schema_texts(kind)
    if out is None:
        sys.stdout.write("".join(texts.values()))
        return
    for name, text in texts.items():
        target = out / name
        write_text(target, text)
        typer.echo(str(target))


def _progress_printer(quiet: bool):
    """Training events as a progress bar on a terminal, plain log lines otherwise (CI)."""
    import logging
    import os
    import warnings

    if quiet or not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # datasets' and transformers' own bars
    # The libraries' chatter is not the user's business (set MODELCFG_VERBOSE=1 to see it):
    # lm-eval warns once per local task that it takes custom kwargs, transformers about
    # deprecations inside its own code.
    if not os.environ.get("MODELCFG_VERBOSE"):
        logging.getLogger("lm_eval").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
    if quiet:
        return None
    from modelcfg.cli.progress import make_reporter

    return make_reporter(sys.stderr)


@app.command()
def tiny(
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output tiny`)."),
) -> None:
    """Check the shipped built-in tiny model against its committed hashes and print its
    folder (MC611 when a file does not match). `train`, `eval` and `gate` load it the same
    way; regenerating it is `python -m modelcfg.tiny.build` (docs/training.md)."""
    require("train", what="`modelcfg tiny`")
    from modelcfg.tiny.build import ensure_tiny_model

    as_json = _text_or_json(fmt, "modelcfg tiny")
    path = ensure_tiny_model()
    if as_json:
        _json_out("tiny", {"path": str(path)})
    else:
        typer.echo(str(path))


@app.command()
def train(
    config: str = typer.Argument(..., help="Adapter name or path, e.g. "
                                 "configs/adapters/tiny-arith.yaml."),
    runs_dir: Optional[Path] = typer.Option(None, help="Where runs are cached (default: "
                                            ".modelcfg/runs in the repository)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run from its last "
                                "checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output train`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Train a LoRA adapter (cached by fingerprint: the same inputs never train twice)."""
    as_json = _text_or_json(fmt, "modelcfg train")
    require("train", what="`modelcfg train`")
    from modelcfg.train.run import train_adapter

    result = train_adapter(_root(root), config, runs_dir=runs_dir, resume=resume,
                           on_progress=_progress_printer(quiet))
    cost = result.manifest.get("cost", {})
    if as_json:
        from modelcfg.core.numbers import finite_or_none

        _json_out("train", finite_or_none({
            "run_dir": str(result.run_dir), "cache_hit": result.cache_hit,
            "train_seconds": result.train_seconds, "status": result.status,
            "fingerprint": result.manifest.get("fingerprint"), "cost": cost}))
        return
    what = "cache hit, 0 training seconds" if result.cache_hit else (
        f"trained in {result.train_seconds:.1f}s")
    typer.echo(f"{result.run_dir}\n{what}; {cost.get('train_tokens', 0):,} tokens, final loss "
               f"{cost.get('final_loss', float('nan')):.4f}")


@app.command("eval")
def eval_(
    config: str = typer.Argument(..., help="Adapter name or path."),
    run: Optional[Path] = typer.Option(None, help="Run directory to evaluate (default: the "
                                       "finished run of the config's current fingerprint)."),
    base_only: bool = typer.Option(False, "--base-only", help="Evaluate the base model "
                                   "without the adapter."),
    limit: Optional[int] = typer.Option(None, help="Items per task (after --offset)."),
    offset: int = typer.Option(0, help="Skip this many items of the fixed order."),
    seed: Optional[int] = typer.Option(None, help="Evaluate items in the fixed random order "
                                       "of this seed (default: dataset order)."),
    out: Optional[Path] = typer.Option(None, help="Results file (default: results.json in "
                                       "the run directory)."),
    batch_size: str = typer.Option("32", help="lm-eval batch size, or 'auto'."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:0, ..."),
    runs_dir: Optional[Path] = typer.Option(None, help="Where runs are cached."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output eval`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Evaluate an adapter (base + LoRA) on its suites' tasks with lm-eval."""
    as_json = _text_or_json(fmt, "modelcfg eval")
    require("train", "eval", what="`modelcfg eval`")
    from modelcfg.evaluation.adapter import evaluate_adapter

    results, target = evaluate_adapter(
        _root(root), config, run=run, base_only=base_only, out=out, runs_dir=runs_dir,
        order_seed=seed, offset=offset, limit=limit, device=device,
        batch_size=int(batch_size) if batch_size.isdigit() else batch_size)
    if as_json:
        from modelcfg.core.numbers import finite_or_none

        _json_out("eval", finite_or_none({
            "results": str(target), "wall_seconds": results["timing"]["wall_seconds"],
            "tasks": {task: {metric: {k: summary.get(k) for k in ("value", "stderr", "n")}
                             for metric, summary in entry["metrics"].items()}
                      for task, entry in results["tasks"].items()}}))
        return
    for task, entry in results["tasks"].items():
        for metric, summary in entry["metrics"].items():
            typer.echo(f"{task:<16} {metric:<24} {summary['value']:.4f} ± "
                       f"{summary['stderr'] or 0:.4f}  (n={summary['n']})")
    typer.echo(f"{target}  ({results['timing']['wall_seconds']:.1f}s)")


@app.command()
def diff(
    base: str = typer.Argument(..., help="Base git revision."),
    head: Optional[str] = typer.Argument(None, help="Head revision (default: the working "
                                         "tree)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output diff`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Semantic config diff: changed fields per config and the impact (retrain /
    re-evaluate / none), so a change that affects nothing spends no GPU time."""
    from modelcfg.cli.render import render_diff_json
    from modelcfg.config.diff import diff_trees, tree_for

    as_json = _text_or_json(fmt, "modelcfg diff")
    repo = _root(root)
    result = diff_trees(tree_for(repo, base), tree_for(repo, head))
    if as_json:
        sys.stdout.write(render_diff_json(result.to_dict()))
    else:
        sys.stdout.write(result.render_text())


gate_app = typer.Typer(help="The merge gate; `gate plan` and `gate merge` shard it over "
                       "runners.", no_args_is_help=False, invoke_without_command=True)
app.add_typer(gate_app, name="gate")


@gate_app.callback(invoke_without_command=True)
def gate(
    ctx: typer.Context,
    base: Optional[str] = typer.Option(None, help="Base revision: everything that judges is "
                                       "read from it (contract, thresholds, baselines, "
                                       "suites). Required."),
    head: str = typer.Option("HEAD", help="Head revision: the configs under test."),
    out: Path = typer.Option(Path(".modelcfg/gate"), help="Folder for gate.json, report.md, "
                             "history.png and evidence/."),
    runs_dir: Optional[Path] = typer.Option(None, help="Training cache (default: "
                                            ".modelcfg/runs in the repository)."),
    pr_author: Optional[str] = typer.Option(None, help="Pull request author (for the "
                                            "contract's agent rules)."),
    label: list[str] = typer.Option([], help="Pull request label (repeatable)."),
    labels_json: Optional[str] = typer.Option(None, help="Pull request labels as a JSON list "
                                              "of strings (what a workflow's toJSON gives; "
                                              "no word splitting)."),
    pr: Optional[str] = typer.Option(None, help="The pull request's id (its number): keys "
                                     "the item order with the base commit and the "
                                     "MODELCFG_ORDER_SECRET environment variable, and names "
                                     "the attempt in the ledger (default: the head commit)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text: the verdict and report "
                               "path; json: gate.json on stdout; github: each reason as an "
                               "Actions annotation on its config line."),
    only: list[str] = typer.Option([], "--only", help="Judge only this adapter of `modelcfg "
                                   "gate plan` (repeatable): one shard of the plan's matrix; "
                                   "combine the shards with `modelcfg gate merge`."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Train, evaluate and judge every config the head changes. Exit 0 pass, 1 block,
    2 error (an error blocks too)."""
    if ctx.invoked_subcommand is not None:
        return
    if base is None:
        ctx.fail("Missing option '--base'.")
    from modelcfg.gate.run import GateSettings, refused, run_gate

    repo = _root(root)
    out_dir = out if out.is_absolute() else repo / out
    shard = list(only) or None
    try:  # the train and eval extras are required by the gate once it has one to train
        labels = list(label) + _json_labels(labels_json)
    except UserError as err:  # an error is a verdict too: gate.json says so (no stale one)
        typer.echo(f"error: {err.render()}", err=True)
        report = refused(repo, out_dir, err, only=shard)
    else:
        settings = GateSettings(runs_dir=runs_dir, pr_author=pr_author, labels=labels, pr=pr,
                                order_secret=_order_secret(), only=shard)
        report = run_gate(repo, base, head, out_dir, settings, emit=_progress_printer(quiet))
    _gate_outcome(report, out, fmt, repo)


def _gate_outcome(report: dict, out: Path, fmt: "Format", repo: Path) -> None:
    """Print a gate verdict (or gate.json, or annotations) and exit 0 pass, 1 block,
    2 error."""
    from modelcfg.gate.report import dumps

    if fmt is Format.json:
        typer.echo(dumps(report))
    elif fmt is Format.github:
        from modelcfg.cli.render import render_gate_github

        sys.stdout.write(render_gate_github(report, [repo]))
    else:
        for cfg in report["configs"]:
            typer.echo(f"{cfg['verdict'].upper():<6} {cfg['adapter']} ({cfg['impact']})")
            for r in cfg["reasons"]:
                typer.echo(f"       {r['code']} {r.get('task') or ''} {r['message']}")
        for r in report["reasons"]:
            typer.echo(f"{r['code']} {r['message']}")
        typer.echo(f"gate: {report['verdict']}  ({out / 'report.md'})")
    raise typer.Exit({"pass": 0, "block": 1}.get(report["verdict"], 2))


@gate_app.command("plan")
def gate_plan(
    base: str = typer.Option(..., help="Base revision (as for `modelcfg gate`)."),
    head: str = typer.Option(..., help="Head revision."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Print, as JSON, the adapters the gate would train or evaluate for this change
    (impact, config path, training.devices) and `matrix` for a workflow's strategy.matrix
    (fromJSON(...).matrix). Torch-free; exit 0, or 2 with the error."""
    import json

    from modelcfg.cli.outputs import versioned
    from modelcfg.gate.shards import gate_plan as plan

    typer.echo(json.dumps(versioned("gate-plan", plan(_root(root), base, head)),
                          sort_keys=True))


@gate_app.command("merge")
def gate_merge(
    shards: list[Path] = typer.Argument(..., help="The output folders of the `modelcfg gate "
                                        "--only` shards."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged gate.json, report.md, "
                             "history.png and evidence/."),
    fmt: Format = typer.Option(Format.text, "--format", help="text: the verdict and report "
                               "path; json: the merged gate.json on stdout; github: "
                               "annotations, as for `modelcfg gate`."),
    root: Optional[Path] = typer.Option(None, help="Repository root (the plan is recomputed "
                                        "from it at the shards' base and head)."),
) -> None:
    """Combine the shards of one gate run into one gate output, as an unsharded run writes
    it. Fails closed: a missing, duplicate, unknown, unreadable or disagreeing shard is an
    error verdict. Exit 0 pass, 1 block, 2 error."""
    from modelcfg.gate.merge import merge_shards

    repo = _root(root)
    out_dir = out if out.is_absolute() else Path.cwd() / out
    _gate_outcome(merge_shards(repo, shards, out_dir), out, fmt, repo)


def _order_secret() -> Optional[str]:
    """The item-order secret from the environment (empty counts as none: a workflow passes
    an empty string for a secret that is not set)."""
    import os

    from modelcfg.gate.order import SECRET_ENV

    return os.environ.get(SECRET_ENV) or None
@app.command()
def compare(
    baseline: Path = typer.Argument(..., help="Baseline: a results file (`modelcfg eval`) or "
                                    "a baseline file (evals/baselines/<adapter>.json)."),
    candidate: Path = typer.Argument(..., help="Candidate: a results or baseline file."),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", help="Thresholds file "
                                              "(default: evals/thresholds.yaml of the "
                                              "repository you are in, else the schema's "
                                              "defaults with every common task judged as "
                                              "capability)."),
    as_json: bool = typer.Option(False, "--json", help="The per-task decisions as JSON "
                                 "(the same as --format json)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output compare`)."),
) -> None:
    """Judge CANDIDATE against BASELINE task by task with the gate's rules, on all items
    paired by doc_id. Exit 0 pass, 1 block, 2 error (unusable or incompatible files)."""
    from modelcfg.cli.render import render_comparison
    from modelcfg.gate.compare import compare as judge
    from modelcfg.gate.compare_inputs import read_json, thresholds_for

    as_json = _text_or_json(fmt, "modelcfg compare") or as_json
    base, cand = read_json(baseline, "baseline"), read_json(candidate, "candidate")
    rules, source = thresholds_for(thresholds, Path.cwd(), base, cand)
    result = judge(base, cand, rules, source).to_dict()
    sys.stdout.write(render_comparison(result, as_json))
    raise typer.Exit({"pass": 0, "block": 1}.get(result["verdict"], 2))


def _json_labels(text: Optional[str]) -> list[str]:
    if text is None:
        return []
    import json

    try:
        labels = json.loads(text)
    except ValueError as err:
        labels, detail = None, f" ({err})"
    else:
        detail = ""
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise UserError("MC006", f"--labels-json must be a JSON list of strings, e.g. "
                        f'\'["agent", "safety review"]\'{detail}', exit_code=2)
    return labels


@app.command()
def promote(
    evidence: Path = typer.Option(Path(".modelcfg/gate"), help="The gate's output folder "
                                  "(gate.json + evidence/) for the merged head."),
    actor: str = typer.Option(..., help="Who merged (recorded in the audit ledger)."),
    adapter: Optional[str] = typer.Option(None, help="Only this adapter (default: every "
                                          "passing adapter in gate.json)."),
    remote: str = typer.Option("origin", help="Remote to push the promotion commit to."),
    branch: Optional[str] = typer.Option(None, help="Branch (default: the current one)."),
    pr_author: Optional[str] = typer.Option(None, help="Pull request author, for the ledger."),
    bootstrap: Optional[str] = typer.Option(None, help="Give an adapter that predates the "
                                            "gate its first baseline: train and evaluate it "
                                            "as committed at HEAD, no comparison (the ledger "
                                            "records verdict 'bootstrap')."),
    rebaseline: Optional[str] = typer.Option(None, help="Replace this adapter's baseline "
                                             "without a comparison, when the gate cannot "
                                             "compare with it (its suites gained a task, "
                                             "MC863; new base weights, MC827): train and "
                                             "evaluate it as committed at HEAD (verdict "
                                             "'bootstrap'; needs --reason)."),
    anchor: Optional[str] = typer.Option(None, help="Re-anchor this adapter's drift cap "
                                         "(thresholds max_drift) at its current baseline: "
                                         "an anchor entry in the ledger, no new baseline."),
    reason: Optional[str] = typer.Option(None, help="Why (recorded in the ledger with "
                                         "--anchor and --rebaseline)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output promote`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """On merge: the gate's evidence becomes the new baseline and a hash-chained ledger
    entry is appended, in one commit pushed to the branch (racing promotions retry)."""
    from modelcfg.audit.promote import promote_gate_output

    as_json = _text_or_json(fmt, "modelcfg promote")
    repo = _root(root)
    if anchor:
        from modelcfg.audit.anchor import reanchor

        result = reanchor(repo, adapter=anchor, actor={"merged_by": actor}, remote=remote,
                          branch=branch, rationale=reason)
        if as_json:
            return _json_out("promote", {"action": "anchor", "promoted": [
                _promoted(anchor, result.already, result.commit, result.entry)]})
        state = "already its anchor" if result.already else (
            f"commit {result.commit[:12]}, ledger #{result.entry['seq']}")
        typer.echo(f"re-anchored {anchor}: {state}")
        return
    if bootstrap or rebaseline:
        flag = "--rebaseline" if rebaseline else "--bootstrap"
        if bootstrap and rebaseline:
            raise UserError("MC735", "give --bootstrap or --rebaseline, not both", exit_code=2)
        name = rebaseline or bootstrap
        require("train", "eval", what=f"`modelcfg promote {flag}`")
        from modelcfg.audit.bootstrap import bootstrap as run_bootstrap

        folder = evidence if evidence.is_absolute() else repo / evidence
        result = run_bootstrap(repo, name, folder,
                               actor={"merged_by": actor, "pr_author": pr_author},
                               remote=remote, branch=branch,
                               emit=_progress_printer(as_json),
                               rebaseline=bool(rebaseline), reason=reason)
        if as_json:
            return _json_out("promote", {"action": "bootstrap", "promoted": [
                _promoted(name, False, result.commit, result.entry)]})
        done = "re-baselined" if rebaseline else "bootstrapped"
        typer.echo(f"{done} {name}: commit {str(result.commit)[:12]}, ledger "
                   f"#{(result.entry or {}).get('seq')}")
        return
    folder = evidence if evidence.is_absolute() else repo / evidence
    results = promote_gate_output(repo, folder, actor={"merged_by": actor,
                                                       "pr_author": pr_author},
                                  adapter=adapter, remote=remote, branch=branch)
    if as_json:
        return _json_out("promote", {"action": "promote", "promoted": [
            _promoted(r.adapter, r.already, r.commit, r.entry) for r in results]})
    for result in results:
        state = "already the baseline" if result.already else (
            f"commit {result.commit[:12]}, ledger #{result.entry['seq']}")
        typer.echo(f"promoted {result.adapter}: {state}")
    if not results:
        typer.echo("nothing to promote: no adapter with new evidence")


def _promoted(adapter: str, already: bool, commit, entry) -> dict:
    return {"adapter": adapter, "already": bool(already),
            "commit": str(commit) if commit else None,
            "ledger_seq": (entry or {}).get("seq")}


@app.command()
def rollback(
    config: str = typer.Argument(..., help="Adapter name."),
    to: str = typer.Option(..., "--to", help="A revision at or after a promotion of it."),
    actor: str = typer.Option(..., help="Who rolls back (recorded in the ledger)."),
    reason: Optional[str] = typer.Option(None, help="Why (recorded in the ledger)."),
    remote: str = typer.Option("origin", help="Remote to push to."),
    branch: Optional[str] = typer.Option(None, help="Branch (default: the current one)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output rollback`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Restore an earlier promoted config and its baseline, as a new ledger entry and a new
    commit (history is never rewritten)."""
    from modelcfg.audit.rollback import rollback as run

    as_json = _text_or_json(fmt, "modelcfg rollback")
    result = run(_root(root), adapter=config, to_rev=to, actor=actor, remote=remote,
                 branch=branch, rationale=reason)
    if as_json:
        return _json_out("rollback", {"adapter": config, "to": to, "commit": str(
            result.commit) if result.commit else None,
            "ledger_seq": (result.entry or {}).get("seq")})
    typer.echo(f"rolled back {config} to {to}: commit {str(result.commit)[:12]}, ledger "
               f"#{(result.entry or {}).get('seq')}")


class HistoryFormat(str, Enum):
    text = "text"
    json = "json"
    md = "md"
    png = "png"


@app.command("history")
def history_(
    adapter: Optional[str] = typer.Argument(None, help="One adapter (and the names it "
                                            "continues); default: every adapter."),
    fmt: HistoryFormat = typer.Option(HistoryFormat.text, "--format", help="text, json "
                                      "(schema: `modelcfg schema --output history`), md "
                                      "(Markdown tables) or png (a plot; needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to this file (atomically) "
                                       "instead of stdout; required for png."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Every promotion, bootstrap, rollback and re-anchoring of each adapter, with its
    per-task metrics, generation latency and cost, from the ledger and the baselines in git
    history."""
    from modelcfg.audit.timeline import history

    if fmt is HistoryFormat.png:
        from modelcfg.audit.plot import require_matplotlib

        if out is None:
            raise UserError("MC741", "--format png writes an image: name the file with --out "
                            "FILE (e.g. --out history.png)", exit_code=2)
        require_matplotlib("modelcfg history --format png")
    doc = history(_root(root), adapter)
    if fmt is HistoryFormat.png:
        from modelcfg.audit.plot import plot_timeline
        from modelcfg.audit.timeline import series

        metrics, latency = series(doc)
        if not metrics:
            typer.echo("nothing to plot: no entry records a metric", err=True)
            raise typer.Exit(1)
        _write_out(out, lambda path: plot_timeline(
            metrics, path, title="promotions: metric per task", latency=latency))
        typer.echo(f"wrote {out}", err=True)
        return
    if fmt is HistoryFormat.json:
        from modelcfg.cli.outputs import dumps

        text = dumps("history", doc)
    else:
        from modelcfg.audit.history_tables import render_markdown, render_text

        text = (render_markdown if fmt is HistoryFormat.md else render_text)(doc)
    if out is None:
        sys.stdout.write(text)
        return
    from modelcfg.core.atomic import write_text

    _write_out(out, lambda path: write_text(path, text))


def _write_out(out: Path, write) -> None:
    """``write(out)``; MC744 (exit 2) when the file cannot be written."""
    try:
        write(out)
    except OSError as err:
        raise UserError("MC744", f"cannot write {out}: {err.strerror or err}; give --out a "
                        "file in a writable folder", path=str(out), exit_code=2) from None
class CardFormat(str, Enum):
    md = "md"
    json = "json"


@app.command()
def card(
    adapter: str = typer.Argument(..., help="Adapter name."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the card to this file "
                                       "(default: print it)."),
    rev: Optional[str] = typer.Option(None, help="Read the baseline and ledger at this "
                                      "commit (default: the working tree)."),
    fmt: CardFormat = typer.Option(CardFormat.md, "--format", help="md (the card), or json "
                                   "(schema: `modelcfg schema --output card`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """The model card of an adapter's promoted baseline (what `promote` commits as
    evals/baselines/ADAPTER.md), rendered again from the baseline, the ledger and git:
    the same bytes (docs/audit.md, "Model cards")."""
    from modelcfg.audit.card import card_of

    repo = _root(root)
    result = card_of(repo, adapter, rev)
    if out is not None:
        from modelcfg.core.atomic import write_bytes

        try:
            write_bytes(out, result.text)
        except OSError as err:
            raise UserError("MC734", f"cannot write the card: {err}", path=str(out),
                            exit_code=2) from None
    if fmt is CardFormat.json:
        return _json_out("card", {"adapter": adapter,
                                  "path": str(out) if out is not None else result.path,
                                  "sha256": result.sha256,
                                  "recorded_sha256": result.recorded_sha256,
                                  "ledger_seq": result.entry["seq"],
                                  "metadata": result.metadata})
    if out is None:
        sys.stdout.write(result.text.decode("utf-8"))
    else:
        typer.echo(f"wrote {out} (sha256 {result.sha256[:12]})", err=True)


audit_app = typer.Typer(help="The hash-chained audit ledger.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    rev: Optional[str] = typer.Option(None, help="Check this commit's ledger (default: the "
                                      "working tree)."),
    history: bool = typer.Option(True, help="Also check that every commit only appended to "
                                 "the ledger."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output audit-verify`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Detect edited, deleted, inserted or reordered ledger entries and baselines that do
    not match their entry. Exit 0 clean, 1 on any finding."""
    from modelcfg.audit.ledger import audit
    from modelcfg.cli.render import render_text

    as_json = _text_or_json(fmt, "modelcfg audit verify")
    problems = audit(_root(root), rev, history)
    if as_json:
        _json_out("audit-verify", {"ok": not problems,
                                   "problems": [p.to_dict() for p in problems]})
        raise typer.Exit(1 if problems else 0)
    sys.stdout.write(render_text(problems))
    if not problems:
        typer.echo("ok: ledger and baselines are consistent", err=True)
    raise typer.Exit(1 if problems else 0)


@audit_app.command("record-attempt")
def audit_record_attempt(
    gate_out: Path = typer.Option(Path(".modelcfg/gate"), help="The gate's output folder "
                                  "(gate.json) of the attempt."),
    remote: str = typer.Option("origin", help="Remote to push the ledger commit to."),
    branch: Optional[str] = typer.Option(None, help="The base branch (default: the current "
                                         "one)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output audit-attempt`)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Record an agent's gate attempt (one entry per judged adapter) in the base branch's
    ledger, in one commit pushed to the branch; the gate counts them (contract
    agents.max_failed_attempts). A human's change is not recorded; recording twice adds
    nothing."""
    from modelcfg.audit.attempts import record_attempts

    as_json = _text_or_json(fmt, "modelcfg audit record-attempt")
    repo = _root(root)
    folder = gate_out if gate_out.is_absolute() else repo / gate_out
    result = record_attempts(repo, folder, remote=remote, branch=branch)
    if as_json:
        return _json_out("audit-attempt", {
            "recorded": result is not None and not result.already,
            "already": bool(result is not None and result.already),
            "adapter": result.adapter if result else None,
            "commit": str(result.commit) if result and result.commit else None,
            "ledger_seq": ((result.entry or {}).get("seq") if result else None)})
    if result is None:
        typer.echo("nothing to record: not an agent's change, or no adapter was judged")
    elif result.already:
        typer.echo(f"attempt of {result.adapter} already recorded")
    else:
        typer.echo(f"recorded the attempt of {result.adapter}: commit {result.commit[:12]}, "
                   f"ledger #{result.entry['seq']}")


@app.command("init")
def init_repo(
    directory: Path = typer.Argument(Path("."), help="Folder of the new config repository "
                                     "(created; an existing one must be empty)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder "
                               "(modelcfg's files replace those of the same name)."),
    modelcfg_repository: str = typer.Option("OWNER/modelcfg", "--modelcfg-repository",
                                            help="The GitHub repository holding modelcfg's "
                                            "reusable workflows (OWNER/NAME)."),
    modelcfg_ref: str = typer.Option("0" * 40, "--modelcfg-ref", help="The modelcfg commit "
                                     "the workflows pin (a full sha; the default, all zeros, "
                                     "is a placeholder to replace)."),
    example: bool = typer.Option(False, "--example", help="The example repository "
                                 "`modelcfg demo` plays with: a poisoned training set an agent "
                                 "may reach for, and an agent budget in the contract."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output init`)."),
) -> None:
    """Scaffold a new config repository: contract, thresholds, suites, an example model and
    adapter, the three workflows calling modelcfg's reusable ones, CODEOWNERS, a PR
    template (docs/adopting.md)."""
    from modelcfg.scaffold.init import init

    as_json = _text_or_json(fmt, "modelcfg init")
    written = init(directory, force=force, repository=modelcfg_repository, ref=modelcfg_ref,
                   example=example)
    if as_json:
        return _json_out("init", {"directory": str(directory),
                                  "files": [str(w) for w in written]})
    typer.echo(f"wrote {len(written)} files to {directory}; next: git init, commit, push, "
               "then `modelcfg promote --bootstrap example` (README.md)")


@app.command()
def demo(
    workdir: Path = typer.Option(Path(".modelcfg/demo"), help="Work folder (recreated): the "
                                 "remote, the clones, the gate reports."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output demo`)."),
) -> None:
    """The whole loop on the tiny built-in model, from any folder: the example repository on a
    local bare remote and a loopback fake GitHub API; a scripted agent proposes four changes
    with `propose` and reads each verdict with `pr status --json` (an improvement that passes
    and is promoted; poisoned data blocked on safety; an over-budget config blocked before
    training; a loosened safety floor judged by the base's thresholds), revises the blocked
    one until it passes, a maintainer merges it, CI promotes it, and `audit verify` runs."""
    as_json = _text_or_json(fmt, "modelcfg demo")
    require("train", "eval", what="`modelcfg demo`")
    from modelcfg.demo.scenario import run_demo

    result = run_demo(workdir, emit=_progress_printer(as_json))
    if as_json:
        _json_out("demo", {"ok": result.ok, "workdir": str(result.workdir),
                           "seconds": result.seconds,
                           "pull_requests": [r.to_dict() for r in result.rows],
                           "baseline_commits": result.baseline_commits,
                           "ledger": result.ledger,
                           "audit_verify": [str(f) for f in result.verify]})
    else:
        typer.echo("")
        typer.echo(f"{'case':<10} {'PR':>3}  {'verdict':<7} {'reason codes':<20} what followed")
        for r in result.rows:
            typer.echo(f"{r.case:<10} #{r.pr:<3} {r.verdict.upper():<7} "
                       f"{' '.join(r.codes) or '-':<20} {r.followed}")
        typer.echo("")
        for r in result.rows:
            typer.echo(f"#{r.pr} report: {r.report}")
        typer.echo(f"baseline of example changed by: {'; '.join(result.baseline_commits)}")
        typer.echo(f"ledger: {len(result.ledger)} entries ("
                   + ", ".join(f"#{e['seq']} {e['action']}" for e in result.ledger) + ")")
        typer.echo(f"audit verify: {'ok' if not result.verify else result.verify}")
        typer.echo(f"{result.seconds:.0f} s; work folder {result.workdir}")
    if not result.ok:
        raise typer.Exit(1)


github_app = typer.Typer(help="The gate's verdict on GitHub.", no_args_is_help=True)
app.add_typer(github_app, name="github")


class GateResult(str, Enum):
    success = "success"
    failure = "failure"
    cancelled = "cancelled"
    skipped = "skipped"


def _api_url() -> str:
    import os

    return os.environ.get("GITHUB_API_URL") or "https://api.github.com"


def _github_failed(failures, rc: int, what: str):
    """Exit for a report GitHub did not (fully) take: never 0, whatever the verdict."""
    if failures:
        raise UserError(failures[0].code, f"GitHub did not take the {what}: " + "; ".join(
            f.render() for f in failures) + (" — the verdict stands" if rc else ""),
            exit_code=max(rc, 1))
    raise typer.Exit(rc)


def _posted(done) -> str:
    """``check run ID (N annotation(s), and M more)`` of a posted check run."""
    more = f", and {done.left_out} more" if done.left_out else ""
    return f"check run {done.check_run or '-'} ({done.annotated} annotation(s){more})"


@github_app.command("report")
def github_report(
    gate_dir: Path = typer.Option(..., "--gate-dir", help="The gate's output folder "
                                  "(gate.json, report.md)."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY)."),
    pr: Optional[int] = typer.Option(None, help="Pull request number (default: the event's)."),
    sha: Optional[str] = typer.Option(None, help="Commit the check run is on (default: the "
                                      "pull request's head)."),
    root: Optional[Path] = typer.Option(None, help="Checkout where config lines are looked "
                                        "up after the gate's judge tree (default: cwd)."),
    gate_result: Optional[GateResult] = typer.Option(
        None, "--gate-result", help="The gate job's result (needs.gate.result): when "
        "gate.json is missing, the failing check says the job failed, was cancelled or "
        "never ran."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output github-report`)."),
) -> None:
    """Post the verdict: check run modelcfg/gate with annotations, one sticky pull request
    comment (the report, the metric history, a link to the run's artifact), the job summary,
    the label gate:pass or gate:block. Token: GITHUB_TOKEN or a GitHub App
    (MODELCFG_GITHUB_APP_ID, MODELCFG_GITHUB_APP_PRIVATE_KEY); GITHUB_API_URL for GitHub
    Enterprise. Exit 0 pass, 1 block, 2 error (gate.json unreadable included); 1 (2 on an
    error verdict) when GitHub did not take the report."""
    from modelcfg.github.auth import token
    from modelcfg.github.client import Pacing
    from modelcfg.github.report import post, target

    as_json = _text_or_json(fmt, "modelcfg github report")
    where = target(repo, pr, sha)
    pacing = Pacing.from_env()
    outcome = post(gate_dir, where, token=token(where.repo, _api_url(), pacing),
                   api_url=_api_url(), roots=[(root or Path.cwd()).resolve()], pacing=pacing,
                   gate_result=gate_result.value if gate_result else None)
    if as_json:
        _json_out("github-report", {
            "verdict": outcome.verdict, "check_run": outcome.check_run,
            "annotated": outcome.annotated, "left_out": outcome.left_out,
            "comment": outcome.comment, "failures": [vars(f) for f in outcome.failures]})
    else:
        typer.echo(f"verdict {outcome.verdict}: {_posted(outcome)}, comment "
                   f"{outcome.comment or '-'}")
    _github_failed(outcome.failures, {"pass": 0, "block": 1}.get(outcome.verdict, 2), "report")


@github_app.command("validate")
def github_validate(
    paths: list[Path] = typer.Argument(None, help="Files or folders (default: the whole "
                                       "repository)."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY)."),
    pr: Optional[int] = typer.Option(None, help="Pull request number (default: the event's)."),
    sha: Optional[str] = typer.Option(None, help="Commit the check run is on (default: the "
                                      "pull request's head, else GITHUB_SHA)."),
    root: Optional[Path] = typer.Option(None, help="Repository root (default: the enclosing "
                                        "git work tree)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or json (schema: "
                               "`modelcfg schema --output github-validate`)."),
) -> None:
    """Run validate and post the check run modelcfg/validate: one annotation per problem on
    its file, line and column, and the job summary. Exit 0 valid, 1 on errors, or when
    GitHub did not take the check (never 0 then)."""
    from modelcfg.github.auth import token
    from modelcfg.github.client import Pacing
    from modelcfg.github.report import target
    from modelcfg.github.validate import post

    as_json = _text_or_json(fmt, "modelcfg github validate")
    where = target(repo, pr, sha)
    pacing = Pacing.from_env()
    checked = post(_root(root), paths or [], where, token=token(where.repo, _api_url(), pacing),
                   api_url=_api_url(), pacing=pacing)
    if as_json:
        _json_out("github-validate", {
            "errors": checked.errors, "warnings": checked.warnings,
            "check_run": checked.check_run, "annotated": checked.annotated,
            "left_out": checked.left_out, "failures": [vars(f) for f in checked.failures]})
    else:
        typer.echo(f"validate: {checked.errors} error(s), {checked.warnings} warning(s); "
                   f"{_posted(checked)}")
    _github_failed(checked.failures, 1 if checked.errors else 0, "validate check")


@github_app.command("pull-request")
def github_pull_request(
    number: int = typer.Argument(..., help="The pull request's number."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY)."),
    github_output: bool = typer.Option(False, "--github-output", help="Also append the "
                                       "lines to $GITHUB_OUTPUT."),
    fmt: Format = typer.Option(Format.text, "--format", help="text: the key=value lines; "
                               "json (schema: `modelcfg schema --output "
                               "github-pull-request`)."),
) -> None:
    """Print number=, author=, labels= (compact JSON list), base_sha=, base_ref=, head_sha=
    of a pull request, read through the API. Exit 2 when it cannot be read."""
    from modelcfg.github.auth import token
    from modelcfg.github.client import GitHubFailed, Pacing
    from modelcfg.github.pulls import append_output, lines, read
    from modelcfg.github.report import target

    as_json = _text_or_json(fmt, "modelcfg github pull-request")
    where = target(repo, number, None)
    pacing = Pacing.from_env()
    try:
        values = read(where.repo, number, token=token(where.repo, _api_url(), pacing),
                      api_url=_api_url(), pacing=pacing)
    except GitHubFailed as exc:
        raise UserError(exc.failure.code, f"the pull request was not read: "
                        f"{exc.failure.render()}", exit_code=2) from None
    text = lines(values)
    if as_json:
        import json

        _json_out("github-pull-request", {**values, "number": int(values["number"]),
                                          "labels": json.loads(values["labels"])})
    else:
        sys.stdout.write(text)
    if github_output:
        append_output(text)


@app.command()
def propose(
    adapter: str = typer.Argument(..., help="The adapter to change (its name)."),
    set_: list[str] = typer.Option([], "--set", help="An edit KEY=VALUE (dotted key, e.g. "
                                   "training.learning_rate=0.002; ADAPTER:KEY=VALUE also "
                                   "works, and PATH:KEY=VALUE edits another YAML file of the "
                                   "repository); repeatable."),
    file: Optional[Path] = typer.Option(None, "--file", help="The adapter's whole new "
                                        "config (instead of --set)."),
    rationale: str = typer.Option(..., help="Why the change (the pull request's rationale)."),
    expected_effect: str = typer.Option(..., "--expected-effect", help="What it should do "
                                        "to the evals."),
    risk: str = typer.Option(..., help="The risk assessment."),
    eval_plan: Optional[str] = typer.Option(None, "--eval-plan", help="How to check it "
                                            "(default: the gate's suites)."),
    allow_protected: bool = typer.Option(False, "--allow-protected", help="Open it even when "
                                         "it edits paths agents may not change (MC814): the "
                                         "gate blocks it by policy, a maintainer decides."),
    agent: str = typer.Option(..., help="The agent's name: the commit's author and its "
                              "Agent: trailer."),
    agent_email: Optional[str] = typer.Option(None, "--agent-email", help="The agent's email "
                                              "(default NAME@users.noreply.github.com)."),
    branch: Optional[str] = typer.Option(None, help="Branch name (default "
                                         "propose/AGENT/ADAPTER-HASH)."),
    remote: str = typer.Option("origin", help="The git remote to push to."),
    base: str = typer.Option("main", help="The base branch on the remote."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY, "
                                       "else the remote's GitHub URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON "
                                 "(format modelcfg-propose/1)."),
    root: Optional[Path] = typer.Option(None, help="Repository root."),
) -> None:
    """Open an agent's config edit as a pull request: validate it, branch, commit (with the
    agent's identity and an Agent: trailer), push, and open the pull request with the
    rationale, expected effect, risk, eval plan, config diff and cost estimate, labelled for
    agents. Rerun the same command to finish a proposal whose push or pull request failed.
    Token: GITHUB_TOKEN or a GitHub App; GITHUB_API_URL for another API."""
    import json

    from modelcfg.agent.propose import (
        FORMAT,
        Proposal,
        assess,
        body,
        prepare,
        publish,
        repo_name,
    )
    from modelcfg.github.auth import token
    from modelcfg.github.client import Pacing

    where = _root(root)
    p = Proposal(adapter=adapter, agent=agent, rationale=rationale,
                 expected_effect=expected_effect, risk=risk, eval_plan=eval_plan,
                 sets=list(set_), file=file.resolve() if file else None,
                 allow_protected=allow_protected, branch=branch,
                 remote=remote, base=base, email=agent_email)
    name = repo_name(where, remote, repo)
    pacing = Pacing.from_env()
    secret = token(name, _api_url(), pacing)
    done = prepare(where, p)
    p.branch = done["branch"]
    changes, cost = assess(where, done, adapter)
    pull = publish(where, p, done, name, token=secret, api_url=_api_url(), pacing=pacing,
                   text=body(p, changes, cost, done["protected"]))
    result = {"format": FORMAT, "adapter": adapter, "agent": agent, "repo": name,
              "branch": done["branch"], "base": base, "base_sha": done["base"],
              "commit": done["commit"], "path": done["path"], "paths": done["paths"],
              "protected": done["protected"], "pr": pull["number"],
              "url": pull["url"], "label": pull["label"], "diff": changes, "cost": cost}
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
    else:
        typer.echo(f"pull request #{pull['number']} {pull['url']} (branch {done['branch']}, "
                   f"commit {done['commit'][:12]})")


pr_app = typer.Typer(help="The gate's verdict on a pull request, as data.",
                     no_args_is_help=True)
app.add_typer(pr_app, name="pr")


def _pr_reader(number: int, repo: Optional[str], root: Optional[Path]):
    from modelcfg.agent.status import read_status
    from modelcfg.github.auth import token
    from modelcfg.github.client import GitHubFailed, Pacing
    from modelcfg.github.report import target

    where = target(repo, number, None)
    pacing = Pacing.from_env()
    secret = token(where.repo, _api_url(), pacing)

    def read() -> dict:
        try:
            return read_status(where.repo, number, token=secret, api_url=_api_url(),
                               pacing=pacing, root=_root(root))
        except GitHubFailed as exc:
            raise UserError(exc.failure.code, f"the pull request's status was not read: "
                            f"{exc.failure.render()}", exit_code=2) from None
    return read


def _pr_outcome(status: dict, as_json: bool) -> None:
    """Print a status; exit 0 pass, 1 block, 2 error, 3 never (pending exits 0 for status)."""
    import json

    if as_json:
        typer.echo(json.dumps(status, indent=1, default=str))
    else:
        typer.echo(f"pull request #{status['pr']}: {status['state']}")
        for cfg in status["adapters"]:
            typer.echo(f"  {cfg['verdict'].upper():<6} {cfg['adapter']}")
            for r in cfg["reasons"]:
                typer.echo(f"         {r['code']} {r['message']}")
        for r in status["reasons"]:
            typer.echo(f"  {r['code']} {r['message']}")
    raise typer.Exit({"pass": 0, "pending": 0, "block": 1}.get(status["state"], 2))


@pr_app.command("status")
def pr_status(
    number: int = typer.Argument(..., help="The pull request's number."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY)."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON (format "
                                 "modelcfg-pr-status/1)."),
    root: Optional[Path] = typer.Option(None, help="A local clone where the config lines are "
                                        "looked up (default: the enclosing work tree)."),
) -> None:
    """The gate's verdict on a pull request: state pending, pass, block or error; per adapter
    the verdict and each reason with its code, file, line, field, threshold and a hint. Exit
    0 pass or pending, 1 block, 2 error."""
    _pr_outcome(_pr_reader(number, repo, root)(), as_json)


@pr_app.command("wait")
def pr_wait(
    number: int = typer.Argument(..., help="The pull request's number."),
    repo: Optional[str] = typer.Option(None, help="OWNER/NAME (default: GITHUB_REPOSITORY)."),
    timeout: float = typer.Option(3600.0, min=0, help="Seconds to wait at most."),
    interval: float = typer.Option(30.0, min=0.01, help="Seconds between polls."),
    as_json: bool = typer.Option(False, "--json", help="Print the final status as JSON."),
    root: Optional[Path] = typer.Option(None, help="A local clone where the config lines are "
                                        "looked up (default: the enclosing work tree)."),
) -> None:
    """Poll until the gate's check on the pull request completes, then print its status as
    `pr status` does. Exit 0 pass, 1 block or timed out (MC036), 2 error."""
    from modelcfg.agent.status import wait

    _pr_outcome(wait(_pr_reader(number, repo, root), timeout, interval), as_json)


def _usage_errors() -> tuple[type[Exception], ...]:
    # Newer typer vendors click (its errors derive from TyperException); older typer raises
    # click's own exceptions.
    found = [getattr(typer, "TyperException", None)]
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(e for e in found if e is not None)


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point; maps errors to exit codes (see the module docstring)."""
    try:
        rc = app(args=argv, prog_name="modelcfg", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except _usage_errors() as exc:
        exc.show()
        return 2
    except UserError as exc:
        typer.echo(f"error: {exc.render()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: show everything, never look like a pass
        missing = missing_extra(exc)
        if missing is not None:  # an import no command checked up front
            typer.echo(f"error: {missing.render()}", err=True)
            return missing.exit_code
        import traceback

        traceback.print_exc()
        typer.echo("error: internal error in modelcfg (exit 3); please report it with the "
                   "traceback above", err=True)
        return 3
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
