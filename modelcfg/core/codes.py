"""Every code modelcfg can emit, in one registry (the docs tables list the same codes).

A code is stable: never renumbered or reused, so agents and scripts may match on it.
``tests/core/test_codes.py`` checks that every code the package emits is here and
documented, and that every code here is emitted somewhere.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # usage (exit 2)
    "MC001": "a path on the command line does not exist",
    "MC002": "a path is outside the repository",
    "MC003": "a file on the command line is not YAML (or a JSONL dataset)",
    "MC004": "unknown kind for modelcfg schema",
    "MC005": ("a command needs an optional install (modelcfg[train], modelcfg[eval], "
              "modelcfg[plot])"),
    "MC006": "--labels-json is not a JSON list of strings",
    "MC007": ("modelcfg compare: a file is not a readable results or baseline file, the "
              "--thresholds file is not a valid Thresholds document, or the two files have no "
              "task in common"),
    # GitHub (modelcfg github ...)
    # one JSON contract (command outputs)
    "MC050": ("--format github for a command that writes no annotations (only validate, gate "
              "and gate merge do)"),
    "MC051": "unknown output kind for modelcfg schema --output",
    "MC010": "GITHUB_TOKEN is not set",
    "MC011": "no repository, pull request or commit to report on (or --repo not OWNER/NAME)",
    "MC012": "the gate folder has no readable gate.json (the check fails with this reason)",
    "MC013": ("a GitHub request still failed after retries (rate limit, 5xx, network): the "
              "verdict stands, the command exits non-zero"),
    "MC014": ("GitHub refused a request (token permissions, unknown repository or pull "
              "request, a rejected body)"),
    "MC015": ("the GitHub App credentials are not usable (App ID not a number, private key "
              "not an RSA PEM key, or GitHub refused the JWT signed with it)"),
    "MC016": "the GitHub App is not installed on the repository (or the installation ID is wrong)",
    "MC017": ("modelcfg github pull-request --github-output without GITHUB_OUTPUT, or a "
              "value with a line break"),
    # modelcfg init (exit 2)
    "MC020": "modelcfg init: the folder is not empty (pass --force to write into it)",
    "MC021": "modelcfg init: --modelcfg-ref is not a full 40-character commit sha",
    "MC022": "modelcfg init: --modelcfg-repository is not OWNER/NAME",
    "MC023": "modelcfg init: the target exists and is not a folder",
    # modelcfg propose, modelcfg pr (agents)
    "MC030": ("modelcfg propose: an edit is not KEY=VALUE, names another adapter, cannot be "
              "made in place, leaves the file unchanged, or --file cannot be read"),
    "MC032": ("modelcfg propose: the work tree has uncommitted changes, the base cannot be "
              "fetched, or the branch exists with another change"),
    "MC033": "modelcfg propose: the push failed (the commit is on the local branch only)",
    "MC034": ("modelcfg propose: the branch is pushed but the pull request was not opened "
              "or not labelled"),
    "MC035": ("modelcfg pr status: the completed gate check has no readable gate.json in its "
              "gate-report artifact"),
    "MC036": "modelcfg pr wait: the gate's check is still pending at the timeout",
    "MC037": ("modelcfg propose: neither or both of --set and --file, an empty rationale, "
              "expected effect or risk, or an agent name that is not a name"),
    # YAML
    "MC100": "the file cannot be read",
    "MC101": "not valid UTF-8 (position of the first bad byte)",
    "MC102": "larger than 1 MiB",
    "MC103": "YAML syntax error, or an alias to an unknown anchor",
    "MC104": "duplicate mapping key",
    "MC105": "a tag, merge key (<<), non-string key or malformed typed scalar",
    "MC106": "alias expansion beyond 100,000 values",
    "MC107": "nesting deeper than 64 levels",
    "MC108": "empty file, or more than one document",
    "MC109": "the top level is not a mapping",
    # schema
    "MC200": "apiVersion missing or unsupported (expected modelcfg/v1)",
    "MC201": "kind missing or unknown (with a suggestion)",
    "MC202": ("unknown key (with 'did you mean', including common names from other tools: rank "
              "→ r, lr → learning_rate)"),
    "MC203": "missing required field",
    "MC204": "wrong type",
    "MC205": ("value not allowed: enum, range, pattern (e.g. a branch name instead of a commit "
              "sha), length, uniqueness"),
    "MC206": "another schema rule, e.g. 'set exactly one of max_steps, epochs'",
    # semantics and policy
    "MC300": "name used twice within a kind",
    "MC301": "adapter's base model not found",
    "MC302": ("target_modules / target_parameters / modules_to_save select nothing on the "
              "model's real module paths, select a module peft cannot wrap (a norm), are an "
              "invalid regex, name only some of fused experts; builtin model with the wrong "
              "family"),
    "MC303": ("LoRA sanity: alpha/r scale outside [1/16, 16], rank above hidden size, layer out"
              " of range"),
    "MC304": "referenced file or folder does not exist",
    "MC305": "dataset bytes do not match the pinned sha256",
    "MC306": "eval suite not found",
    "MC307": "eval task not found in evals/tasks/, or a threshold for a task no suite runs",
    "MC308": "path absolute, climbing out with .., or leaving the repository through a symlink",
    "MC309": "estimated training cost exceeds the adapter's budget",
    "MC310": "estimated cost, budget or LoRA rank exceeds the contract's caps",
    "MC311": "trust_remote_code not allowed by the contract for this model",
    "MC312": "model source not in the contract's models.allow",
    "MC313": "dataset not in the contract's datasets.allow",
    "MC314": "a field the contract forbids is set",
    "MC315": ("cost cannot be estimated (no parameters for the model, or epochs over a hub "
              "dataset without examples)"),
    "MC316": "no Contract / Thresholds document, or more than one",
    "MC317": ("dataset record malformed for the method (line of the dataset file), or dpo_beta "
              "without method: dpo"),
    "MC318": ("a document outside its kind's place (e.g. a Contract under configs/, an Adapter"
              " under evals/): ignored, it never resolves"),
    "MC319": "a NaN or infinite number (.nan, .inf) anywhere in a document",
    "MC320": "an eval task with no items (its data file is empty)",
    "MC321": ("an adapter's evals.suites leave out a suite the contract requires, or every "
              "suite that runs a task the thresholds judge under safety:"),
    "MC322": ("replaces names the adapter itself, one still defined or already replaced, or "
              "(gate) no adapter of the base that the change removes"),
    "MC340": ("an adapter's evals.suites leave out a suite the contract's adapter_suites "
              "requires of that adapter by name (the gate blocks it: MC817)"),
    "MC341": "a task under the thresholds' robustness: that is also under tasks: or safety:",
    "MC330": "a Model's family is not a known transformers model_type",
    "MC331": "lora_dropout other than 0 while LoRA adapts a parameter (peft refuses it)",
    "MC332": ("a lora combination peft refuses: layers_to_transform/layers_pattern with a "
              "string target_modules, layers_pattern alone, a parameter of a module "
              "target_modules already adapts, fan_in_fan_out with a target parameter"),
    "MC325": ("a task's max_drift is below its margin (the drift cap would block what the "
              "margin lets through)"),
    "MC323": ("a thresholds entry's higher_is_better contradicts the direction the task's "
              "metric_list records"),
    "MC324": ("(warning) a task too small for its thresholds: no planned power to show "
              "non-inferiority at its margin when the candidate equals its baseline, or a "
              "safety task a perfect candidate cannot pass the exact floor with"),
    "MC333": ("an lm-eval:<name> suite entry that is not a task of the pinned lm-eval (unknown,"
              " or a group or tag)"),
    "MC334": "a thresholds metric that the standard lm-eval task does not report",
    "MC335": "a suite task with no entry in the thresholds (the gate would refuse it: MC816)",
    "MC345": ("latency.repeats too few for an interval at the latency alpha (the gate would "
              "block every change with MC852)"),
    "MC338": ("a dataset of format messages without a chat template (training.chat_template "
              "absent or none)"),
    "MC339": ("training fields that do not fit together: a dataset format the method does not "
              "read, fields naming another format's names, no training data left, or "
              "validation_fraction besides a validation dataset"),
    # repository and git
    "MC401": "a git command failed (unknown ref, not a repository)",
    "MC403": "the config to train/evaluate/gate is not valid; run modelcfg validate",
    "MC404": "no adapter with that name or path",
    # training
    "MC501": ("the pre-launch estimate exceeds the budget or the contract's caps, or cannot be "
              "computed; nothing ran"),
    "MC502": "the run exceeded its budget while training; stopped, kept as over_budget",
    "MC503": "(not an error) a corrupt cache entry was found and rebuilt; reported as an event",
    "MC504": "--resume but the run directory has no checkpoint",
    "MC505": "unknown builtin model, or quantization without bitsandbytes/CUDA",
    "MC506": "a dataset's sha256 differs from the one the config pins",
    "MC507": "the multi-process (accelerate launch) run failed",
    "MC508": ("a hub dataset cannot be loaded: its pinned revision is not in the hub cache "
              "while offline, the revision, subset or split does not exist, or its rows lack "
              "the columns its format reads"),
    "MC509": "the checkpoint's config.json model_type differs from the Model's family",
    "MC510": "the optimizer needs bitsandbytes and a CUDA GPU, and this machine lacks one",
    "MC511": ("training.chat_template: tokenizer, but the base model's tokenizer has no chat "
              "template"),
    # evaluation
    "MC601": "model directory not found or without config.json",
    "MC602": ("unknown local task: no evals/tasks/<name>/ folder, or no YAML in it with task: "
              "<name>"),
    "MC603": "adapter directory not found or without adapter_config.json",
    "MC604": "bad selection: limit < 1, offset < 0, or offset past the last item of every task",
    "MC605": "lm-eval:<name> is not a task, group or tag of the installed lm-eval",
    "MC606": "results file unreadable, not JSON, or not modelcfg-eval-results/1",
    "MC607": ("two results cannot be merged (different model, lm-eval version, item order, task"
              " version/config hash/size, or conflicting items)"),
    "MC608": "lm-eval is not installed",
    "MC609": "invalid task name, or no tasks",
    "MC610": "modelcfg eval: no finished training run for the config's current fingerprint",
    "MC611": ("the shipped tiny model's files do not match their committed sha256 (a missing or "
              "altered file)"),
    # audit: baselines, ledger, promotion
    "MC701": ("baseline file malformed: not JSON, NaN/Infinity, a missing or mistyped field, a "
              "count that does not match its items, another adapter's file"),
    "MC702": "not a valid adapter name (baseline path)",
    "MC703": ("results or manifest cannot become a baseline (format, adapter, fingerprint, "
              "status, NaN)"),
    "MC710": "ledger line not JSON, missing or mistyped field, torn last line",
    "MC711": "ledger entry edited (hash mismatch, or line not canonical)",
    "MC712": "ledger entry out of place: deleted, inserted, duplicated or reordered entries",
    "MC713": "ledger chain broken: prev does not match the entry before",
    "MC714": ("a baseline and the ledger disagree: missing or rewritten entry, baseline "
              "reverted or deleted, baseline without a ledger reference"),
    "MC715": "a baseline was edited after promotion",
    "MC716": "refusing to promote or append: the ledger (or baselines) do not verify",
    "MC717": "invalid ledger entry from the caller (action, adapter, commit, baseline sha, NaN)",
    "MC718": "a commit rewrote the ledger instead of appending (history check)",
    "MC719": ("foreign evidence: its commit (or a rollback target) is not in the history of the "
              "branch it would land on"),
    "MC720": ("promotion conflict: the adapter's baseline changed underneath to another "
              "fingerprint"),
    "MC721": ("cannot fetch or push the branch, retries exhausted, or HEAD detached without a "
              "branch"),
    "MC722": ("rollback target has no promoted baseline of the adapter, lacks its config, or is"
              " not a commit"),
    "MC723": ("promotion evidence invalid: not a baseline, another adapter, unknown commit, no "
              "actor"),
    "MC724": "a git plumbing command failed",
    "MC725": ("modelcfg promote: the gate's result (gate.json) is unreadable or its verdict is "
              "not pass"),
    "MC726": ("modelcfg promote --bootstrap: the adapter already has a baseline, its config or "
              "evals have uncommitted changes, or configs/ or evals/ hold a non-regular file"),
    "MC727": ("the ledger, a baseline or a model card is not a regular file (a symlink, "
              "submodule or special file at its path or on the way): never followed"),
    "MC728": ("evidence judged for another config: its config_key is not the adapter's on the "
              "branch head"),
    "MC729": ("a ledger attempt entry is malformed, or an attempt or anchor entry cannot be "
              "made (gate.json unreadable, no promoted baseline to anchor at)"),
    "MC730": ("modelcfg card: the adapter has no promoted baseline here, or the ledger lacks "
              "the entry its baseline names"),
    "MC731": "a model card was edited after promotion (its sha256 is not its entry's card_sha256)",
    "MC732": ("a model card is missing (deleted) while its baseline's ledger entry records "
              "card_sha256, or cannot be read"),
    "MC733": ("modelcfg card: the promoted commit is not in this repository (a shallow clone), "
              "or its configs cannot be read"),
    "MC734": "modelcfg card: cannot write the card to --out",
    "MC735": ("modelcfg promote --rebaseline: the adapter has no baseline to replace, no "
              "--reason was given, or --bootstrap was given too"),
    # modelcfg history
    "MC740": ("modelcfg history ADAPTER: the ledger has no promotion, rollback or anchor entry "
              "of the adapter (or of a name it continues)"),
    "MC741": "modelcfg history --format png without --out",
    "MC742": ("modelcfg history: the commit that appended a ledger entry has no baseline of its "
              "adapter"),
    "MC743": ("modelcfg history: the baseline at the commit that appended a ledger entry cannot "
              "be read or is not the one the entry records"),
    "MC744": "modelcfg history --out: the file cannot be written",
    # gate reasons
    "MC801": ("the config is invalid under the base commit's policy (the validation problems "
              "are listed)"),
    "MC802": "estimated cost over budget, contract cap or threshold: blocked before training",
    "MC803": "training stopped over budget",
    "MC804": "no baseline evidence for an adapter that exists in the base commit",
    "MC805": ("evidence incompatible with the baseline (doc hashes, task version or config, lm-"
              "eval version)"),
    "MC806": "evidence missing or not a finite number",
    "MC807": ("capability regression: a valid test finds the candidate worse than the baseline "
              "by more than the margin (the repeated confidence interval lies below -margin)"),
    "MC808": ("non-inferiority not shown after the final look (with about how many more items "
              "a decision would need)"),
    "MC809": ("safety regression: an item the baseline answered safely is answered unsafely "
              "(rule no_new_failures), or the exact non-inferiority test at the safety alpha "
              "failed (rule noninferiority)"),
    "MC810": ("safety floor not met: the exact Clopper-Pearson bound of the rate at the safety "
              "alpha does not clear the floor"),
    "MC811": "a required gain was not shown",
    "MC812": "measured cost over the thresholds",
    "MC813": "evaluation throughput below min_tokens_per_second",
    "MC814": "agent-authored change outside what the contract allows",
    "MC815": "stale evidence: the baseline does not describe the base commit's config",
    "MC816": "a task in the adapter's suites has no threshold",
    "MC817": ("a task the base requires (required suite, safety task, task of the promoted "
              "baseline) is not in the adapter's suites"),
    "MC818": ("an agent-authored change removes or renames an adapter with a baseline without "
              "a maintainer label"),
    "MC819": "the base policy is broken: a required suite is missing, or no valid contract",
    "MC820": "the gate could not run (error; exit 2)",
    "MC821": ("something under the head's configs/ is not a regular file (a symlink, a "
              "submodule, a path with a '..' or '.git' part)"),
    "MC822": "a document in the head outside its kind's place (it would never resolve)",
    "MC823": ("two documents of one kind and name under the head's configs/: the gate picks "
              "neither"),
    "MC824": ("who wrote the change cannot be established: its commits cannot all be read (a "
              "shallow clone cut inside the change, a missing object)"),
    "MC825": ("not shown non-inferior: stopped for futility at an interim look (not a finding "
              "that the candidate is worse; with about how many more items would be needed)"),
    "MC826": ("which way is better cannot be settled for a judged metric: the thresholds "
              "contradict lm-eval's record, baseline and candidate disagree, or neither says"),
    "MC827": ("the baseline and the candidate were made on different base weights, or the "
              "baseline does not record its base weights' sha256: not compared"),
    "MC828": ("an agent's adapter lineage reached agents.max_failed_attempts blocked attempts "
              "since its last promotion, without a maintainer label"),
    "MC829": ("a task drifted more than its max_drift from the lineage's anchor, or the drift "
              "cannot be checked"),
    "MC830": ("an adapter the plan of the change does not hold: `modelcfg gate --only` names "
              "one, or a shard passed to `modelcfg gate merge` holds one"),
    "MC831": ("gate merge: a shard's gate.json cannot be read, holds a NaN, is not a gate "
              "report, has no shard record, or names evidence its folder lacks"),
    "MC832": ("gate merge: the shards disagree (base, head, merge base, pull request, item "
              "order, contract/thresholds, modelcfg version, diff, an impact-none verdict)"),
    "MC833": "gate merge: a planned adapter no shard judged (a missing shard)",
    "MC834": "gate merge: an adapter judged by more than one shard",
    # robustness tasks (the thresholds' robustness:)
    "MC860": ("robustness regression: a valid test finds the candidate worse than the baseline "
              "under perturbation by more than the margin"),
    "MC861": ("non-inferiority under perturbation not shown after the final look (with about "
              "how many more items would be needed)"),
    "MC862": ("not shown non-inferior under perturbation: stopped for futility at an interim "
              "look (not a finding that the candidate is worse)"),
    "MC863": ("the promoted baseline has no scores for a task the adapter's suites run (added "
              "after the promotion): blocked before training until a maintainer re-baselines"),
    # the agent budget
    "MC840": ("an agent's GPU-hours in the day or week (base ledger) plus the change's "
              "estimate exceed the contract's agents.budget cap: blocked before training"),
    "MC841": ("an agent's GPU-hours cannot be counted for its budget: the base ledger does not "
              "verify, an agent's entry has no readable time or GPU-hours, or the head commit's "
              "time cannot be read"),
    # the latency SLO
    "MC850": ("a latency regression beyond the SLO is not ruled out: the upper end of the "
              "paired time-per-token ratio's interval is above 1 + latency.max_regression"),
    "MC851": ("the candidate's median seconds per generated token is over "
              "latency.max_seconds_per_token"),
    "MC852": ("the latency SLO cannot be judged: too few timing pairs for its alpha, a timing "
              "that is not a positive number, or a baseline adapter that cannot be rebuilt "
              "as promoted"),
    # the demo
    "MC901": ("modelcfg demo: a step of the scenario did not do what it must (a proposal "
              "refused, a command without JSON, a refused merge, a merged head that fails its "
              "own gate): the demo needs updating"),
}
