"""A stateful fake of the GitHub REST endpoints modelcfg uses, on 127.0.0.1.

The tests and `modelcfg demo` serve it; the real PyGithub client talks to it (``base_url``).
It keeps check runs, issue comments, labels, pull requests, commit statuses and workflow-run
artifacts; with a bare git repository as its ``remote``, pull requests are opened on the
branches pushed there and merged there (a merge commit, as GitHub's merge button makes); as a GitHub App's API
(``app``) it verifies the RS256 signature of the App's JWT with the App's public key, issues
installation tokens and then accepts only those; it paginates with ``per_page``/``page`` and a
``Link`` header as GitHub does; it records every request; it can answer with a 403
secondary rate limit (``Retry-After``), a 5xx, or be down altogether.

Every request body and every response body of an operation it serves is validated against
the schemas cut from GitHub's published OpenAPI description (``openapi_excerpt.json``, see
``extract_openapi.py``). A request that does not match gets 422 (as GitHub answers) and is
listed in ``violations``; a response of the fake that does not match is listed there too,
so the fake cannot drift from the real API unnoticed. Responses are built from the schema's
required fields (placeholders) overlaid with the fake's state.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema

EXCERPT = json.loads(Path(__file__).with_name("openapi_excerpt.json").read_text())
OPERATIONS = EXCERPT["operations"]
SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you "
             "try again.")


def _route(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{[a-z_]+\}", r"([^/]+)", template) + "$")


ROUTES = [(key.split(" ")[0], _route(key.split(" ", 1)[1]), key) for key in OPERATIONS]


def placeholder(schema, name: str = ""):
    """The smallest instance of ``schema``: its required fields with placeholder values."""
    if not isinstance(schema, dict):
        return None
    for alt in ("oneOf", "anyOf", "allOf"):
        if alt in schema:
            return placeholder(schema[alt][0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: placeholder(props.get(k, {}), k) for k in schema.get("required", [])}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt == "uri":
            return "https://github.invalid/" + name
        return name or "x"
    return None


@dataclass
class Request:
    method: str
    path: str  # without the API prefix and query
    query: dict
    body: object
    status: int = 0
    operation: str | None = None
    authorization: str = ""


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int
    retry_after: int | None = None
    message: str = "Server Error"
    applied: bool = False  # the request takes effect, then the answer is an error


@dataclass
class State:
    check_runs: dict = field(default_factory=dict)
    comments: dict = field(default_factory=dict)  # issue number -> [comment]
    labels: dict = field(default_factory=dict)  # issue number -> [name]
    pulls: dict = field(default_factory=dict)  # number -> head sha
    statuses: dict = field(default_factory=dict)  # sha -> [status]
    artifacts: dict = field(default_factory=dict)  # workflow run id -> [artifact]
    blobs: dict = field(default_factory=dict)  # artifact id -> its zip's bytes
    tokens: set | None = None  # the accepted tokens; None: any
    app: tuple | None = None  # (app id, public key PEM, installation id)
    next_id: int = 1000


class FakeGitHub:
    """``with FakeGitHub(prefix="/api/v3") as gh: gh.url`` is the API's base URL."""

    def __init__(self, owner_repo: str = "octo/configs", prefix: str = ""):
        self.repo = owner_repo
        self.prefix = prefix
        self.state = State()
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.down = False
        self.remote: Path | None = None  # a bare git remote: new pulls' heads are read there
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"

    def __enter__(self) -> "FakeGitHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- set-up and faults -------------------------------------------------------------

    def add_pull(self, number: int, head_sha: str, **more) -> None:
        """``more``: author, base_sha, base_ref."""
        self.state.pulls[number] = dict(more, head_sha=head_sha)
        self.state.comments.setdefault(number, [])
        self.state.labels.setdefault(number, [])

    def add_comment(self, number: int, body: str, login: str = "someone") -> dict:
        return self._new_comment(number, body, login)

    def add_artifact(self, run_id: int, name: str, data: bytes = b"") -> dict:
        """``data``: the artifact's zip, served by its download (a 302 to the blob)."""
        self.state.next_id += 1
        aid = self.state.next_id
        self.state.blobs[aid] = data
        artifact = {"id": aid, "name": name, "size_in_bytes": len(data) or 1024,
                    "expired": False,
                    "workflow_run": {"id": run_id},
                    "url": f"{self.url}/repos/{self.repo}/actions/artifacts/{aid}",
                    "archive_download_url":
                        f"{self.url}/repos/{self.repo}/actions/artifacts/{aid}/zip"}
        self.state.artifacts.setdefault(run_id, []).append(artifact)
        return artifact

    def app(self, app_id: int, public_key_pem: str, installation_id: int) -> None:
        """Serve as GitHub App ``app_id``, installed on the repository: from now on only the
        installation tokens it issued are accepted."""
        self.state.app = (app_id, public_key_pem, installation_id)
        self.state.tokens = set()

    def fail(self, method: str, path_regex: str, status: int, times: int = 1,
             retry_after: int | None = None, message: str = "Server Error",
             applied: bool = False) -> None:
        """The next ``times`` matching requests get ``status`` (403 + Retry-After for a
        secondary rate limit); ``applied``: they take effect first (a lost answer)."""
        self.faults.append(Fault(method, re.compile(path_regex), status, times, retry_after,
                                 message, applied))

    def calls(self, method: str, path_regex: str = "") -> list[Request]:
        return [r for r in self.requests
                if r.method == method and re.search(path_regex, r.path)]

    # --- serving -----------------------------------------------------------------------

    def _new_comment(self, number: int, body: str, login: str) -> dict:
        self.state.next_id += 1
        cid = self.state.next_id
        comment = {"id": cid, "body": body, "user": {"login": login},
                   "url": f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
                   "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}"}
        self.state.comments.setdefault(number, []).append(comment)
        return comment

    def handle(self, method: str, raw_path: str, body,
               authorization: str = "") -> tuple[int, dict, object]:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        outside = bool(self.prefix) and not path.startswith(self.prefix + "/")
        path = path[len(self.prefix):] if self.prefix and not outside else path
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        req = Request(method, path, query, body, authorization=authorization)
        with self.lock:
            self.requests.append(req)
            status, headers, payload = (404, {}, {"message": "Not Found"}) if outside \
                else self._answer(req)
            req.status = status
        return status, headers, payload

    def _answer(self, req: Request) -> tuple[int, dict, object]:
        if self.down:
            return 503, {}, {"message": "Service Unavailable"}
        for fault in self.faults:
            if fault.times > 0 and fault.method == req.method and fault.pattern.search(req.path):
                fault.times -= 1
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                if fault.applied:
                    self._route(req)
                return fault.status, headers, {"message": fault.message}
        return self._route(req)

    def _authorized(self, req: Request, key: str) -> bool:
        """A JWT signed by the App's key for the App's own endpoints; else a token the fake
        issued (any token when no App is set up)."""
        scheme, _, credential = req.authorization.partition(" ")
        if key.endswith("/installation") or key.startswith("POST /app/"):
            return self._jwt_ok(credential) if self.state.app else True
        return self.state.tokens is None or credential in self.state.tokens

    def _jwt_ok(self, token: str) -> bool:
        import jwt

        app_id, public_key, _ = self.state.app
        try:
            claims = jwt.decode(token, public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(app_id)

    def _route(self, req: Request) -> tuple[int, dict, object]:
        for method, pattern, key in ROUTES:
            match = pattern.match(req.path)
            if method == req.method and match:
                req.operation = key
                if not self._authorized(req, key):
                    return 401, {}, {"message": "Bad credentials"}
                return self._operation(req, key, match.groups())
        return 404, {}, {"message": "Not Found"}

    def _operation(self, req: Request, key: str, args: tuple) -> tuple[int, dict, object]:
        spec = OPERATIONS[key]
        if spec["request"] is not None:
            errors = _errors(spec["request"], req.body)
            if errors:
                self.violations.append(f"request {key}: {errors}")
                return 422, {}, {"message": "Validation Failed", "errors": errors}
        if key.split(" ", 1)[1].startswith("/repos/"):
            if f"{args[0]}/{args[1]}" != self.repo:
                return 404, {}, {"message": "Not Found"}
            args = args[2:]
        status, headers, payload = getattr(self, "_" + re.sub(r"[/-]", "_", spec["operationId"]))(
            req, *args)
        if status == spec["status"] and spec["response"] is not None:
            full = fill(spec["response"], payload)
            errors = _errors(spec["response"], full)
            if errors:
                self.violations.append(f"response {key}: {errors}")
            payload = full
        return status, headers, payload

    def _page(self, req: Request, items: list) -> tuple[dict, list]:
        per_page = int(req.query.get("per_page", 30))
        page = int(req.query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        headers = {}
        if page < last:
            base = f"{self.url}{req.path}?per_page={per_page}"
            headers["Link"] = (f'<{base}&page={page + 1}>; rel="next", '
                               f'<{base}&page={last}>; rel="last"')
        return headers, items[(page - 1) * per_page:page * per_page]

    # one method per operationId (issues/list-comments -> _issues_list_comments)

    def _checks_create(self, req):
        self.state.next_id += 1
        run = dict(req.body, id=self.state.next_id, output=dict(req.body.get("output", {})),
                   url=f"{self.url}/repos/{self.repo}/check-runs/{self.state.next_id}")
        run["output"]["annotations"] = list(run["output"].pop("annotations", []))
        self.state.check_runs[run["id"]] = run
        return 201, {}, _check_run_view(run)

    def _checks_update(self, req, run_id):
        run = self.state.check_runs.get(int(run_id))
        if run is None:
            return 404, {}, {"message": "Not Found"}
        body = copy.deepcopy(req.body)  # the recorded request stays as it was sent
        output = body.pop("output", None)
        run.update(body)
        if output is not None:
            added = output.pop("annotations", [])
            run["output"].update(output)
            run["output"]["annotations"] += added
        return 200, {}, _check_run_view(run)

    def _issues_get(self, req, number):
        number = int(number)
        if number not in self.state.pulls:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, {"number": number, "labels": self._label_view(number),
                         "url": f"{self.url}/repos/{self.repo}/issues/{number}"}

    def _issues_list_comments(self, req, number):
        headers, items = self._page(req, self.state.comments.get(int(number), []))
        return 200, headers, items

    def _issues_create_comment(self, req, number):
        if int(number) not in self.state.pulls:
            return 404, {}, {"message": "Not Found"}
        return 201, {}, self._new_comment(int(number), req.body["body"], "github-actions[bot]")

    def _issues_update_comment(self, req, comment_id):
        for comments in self.state.comments.values():
            for comment in comments:
                if comment["id"] == int(comment_id):
                    comment["body"] = req.body["body"]
                    return 200, {}, comment
        return 404, {}, {"message": "Not Found"}

    def _issues_add_labels(self, req, number):
        names = req.body["labels"] if isinstance(req.body, dict) else req.body
        names = [n if isinstance(n, str) else n["name"] for n in names]
        current = self.state.labels.setdefault(int(number), [])
        current += [n for n in names if n not in current]
        return 200, {}, self._label_view(int(number))

    def _issues_remove_label(self, req, number, name):
        current = self.state.labels.setdefault(int(number), [])
        if name not in current:
            return 404, {}, {"message": "Label does not exist"}
        current.remove(name)
        return 200, {}, self._label_view(int(number))

    def _label_view(self, number: int) -> list:
        return [{"id": i + 1, "name": n, "url": f"{self.url}/repos/{self.repo}/labels/{n}",
                 "color": "ededed", "default": False}
                for i, n in enumerate(self.state.labels.get(number, []))]

    def _pulls_get(self, req, number):
        number = int(number)
        if number not in self.state.pulls:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, self._pull_view(number)

    def _pull_view(self, number: int) -> dict:
        pull = self.state.pulls[number]
        pull = pull if isinstance(pull, dict) else {"head_sha": pull}
        return {"number": number, "state": "closed" if pull.get("merged") else "open",
                "merged": bool(pull.get("merged")),
                "merge_commit_sha": pull.get("merge_commit_sha"),
                "title": pull.get("title", "x"),
                "body": pull.get("body"),
                "user": {"login": pull.get("author", "someone")},
                "labels": self._label_view(number),
                "head": {"sha": pull["head_sha"], "ref": pull.get("head_ref", f"pr-{number}")},
                "base": {"sha": pull.get("base_sha", "b" * 40),
                         "ref": pull.get("base_ref", "main")},
                "url": f"{self.url}/repos/{self.repo}/pulls/{number}",
                "html_url": f"https://github.invalid/{self.repo}/pull/{number}"}

    def _pulls_create(self, req):
        head, base = req.body["head"], req.body["base"]
        sha = self._remote_sha(head.split(":")[-1])
        if sha is None:
            return 422, {}, {"message": "Validation Failed",
                             "errors": [{"field": "head", "code": "invalid"}]}
        number = max(self.state.pulls, default=0) + 1
        self.add_pull(number, sha, head_ref=head.split(":")[-1], base_ref=base,
                      base_sha=self._remote_sha(base) or "b" * 40,
                      title=req.body.get("title", ""),
                      body=req.body.get("body") or "")
        return 201, {}, self._pull_view(number)

    def _pulls_merge(self, req, number):
        """A merge commit of the head onto the base branch, made in the bare ``remote``
        (``git merge-tree``): 405 when it is merged already or conflicts, 409 when ``sha``
        is not the head."""
        number = int(number)
        pull = self.state.pulls.get(number)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        if pull.get("merged") or self.remote is None:
            return 405, {}, {"message": "Pull Request is not mergeable"}
        head = self._remote_sha(pull["head_ref"]) or pull["head_sha"]
        if (req.body or {}).get("sha") not in (None, head):
            return 409, {}, {"message": "Head branch was modified. Review and try the merge "
                             "again."}
        base_ref = pull.get("base_ref", "main")
        base = self._remote_sha(base_ref)
        tree = self._git("merge-tree", "--write-tree", base, head)
        if tree is None:
            return 405, {}, {"message": "Merge conflict"}
        title = (req.body or {}).get("commit_title") or \
            f"Merge pull request #{number} from {pull['head_ref']}"
        sha = self._git("commit-tree", tree.split()[0], "-p", base, "-p", head, "-m", title,
                        env={"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
                             "GIT_COMMITTER_NAME": "GitHub",
                             "GIT_COMMITTER_EMAIL": "noreply@github.com"})
        if sha is None or self._git("update-ref", f"refs/heads/{base_ref}", sha, base) is None:
            return 405, {}, {"message": "Base branch was modified. Review and try the merge "
                             "again."}
        pull.update(merged=True, head_sha=head, merge_commit_sha=sha)
        return 200, {}, {"merged": True, "message": "Pull Request successfully merged",
                         "sha": sha}

    def _git(self, *args: str, env: dict | None = None) -> str | None:
        """``git`` in the bare remote: its output, or None when it fails."""
        import os
        import subprocess

        proc = subprocess.run(["git", "--git-dir", str(self.remote), *args], text=True,
                              capture_output=True, env={**os.environ, **(env or {})})
        return proc.stdout.strip() if proc.returncode == 0 else None

    def _pulls_list(self, req):
        head = req.query.get("head", "").split(":")[-1]
        state = req.query.get("state", "open")
        found = [view for view in (self._pull_view(n) for n, p in sorted(self.state.pulls.items())
                                   if not head or p.get("head_ref") == head)
                 if state == "all" or view["state"] == state]
        headers, items = self._page(req, found)
        return 200, headers, items

    def _remote_sha(self, branch: str) -> str | None:
        if self.remote is None:
            return "c" * 40
        return self._git("rev-parse", "--verify", "-q", f"refs/heads/{branch}") or None

    def _actions_download_artifact(self, req, artifact_id, archive_format):
        if int(artifact_id) not in self.state.blobs or archive_format != "zip":
            return 404, {}, {"message": "Not Found"}
        root = self.url[:len(self.url) - len(self.prefix)] if self.prefix else self.url
        return 302, {"Location": f"{root}/_blobs/{artifact_id}"}, {}

    def _checks_list_for_ref(self, req, ref):
        runs = [_check_run_view(r) for r in self.state.check_runs.values()
                if r["head_sha"] == ref and r["name"] == req.query.get("check_name", r["name"])]
        headers, items = self._page(req, runs)
        return 200, headers, {"total_count": len(runs), "check_runs": items}

    def _actions_list_workflow_run_artifacts(self, req, run_id):
        found = self.state.artifacts.get(int(run_id), [])
        headers, items = self._page(req, found)
        return 200, headers, {"total_count": len(found), "artifacts": items}

    def _apps_get_repo_installation(self, req):
        if self.state.app is None:
            return 404, {}, {"message": "Not Found"}
        app_id, _, installation = self.state.app
        return 200, {}, {"id": installation, "app_id": app_id,
                         "access_tokens_url": f"{self.url}/app/installations/{installation}/"
                         "access_tokens"}

    def _apps_create_installation_access_token(self, req, installation):
        if self.state.app is None or int(installation) != self.state.app[2]:
            return 404, {}, {"message": "Not Found"}
        self.state.next_id += 1
        token = f"ghs_fake{self.state.next_id}"
        self.state.tokens.add(token)
        return 201, {}, {"token": token, "expires_at": "2099-01-01T00:00:00Z"}

    def _repos_create_commit_status(self, req, sha):
        self.state.next_id += 1
        status = dict(req.body, id=self.state.next_id)
        self.state.statuses.setdefault(sha, []).append(status)
        return 201, {}, status


def _check_run_view(run: dict) -> dict:
    view = {k: v for k, v in run.items() if k != "output"}
    output = run["output"]
    view["output"] = {"title": output.get("title"), "summary": output.get("summary"),
                      "text": output.get("text"),
                      "annotations_count": len(output["annotations"]),
                      "annotations_url": "https://github.invalid/annotations"}
    return view


def _branch(schema):
    """The first alternative of a oneOf/anyOf/allOf that is not ``null``."""
    while isinstance(schema, dict):
        alts = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf")
        if not alts:
            return schema
        schema = next((a for a in alts if a.get("type") != "null"), alts[0])
    return {}


def fill(schema, value):
    """``value`` completed with the schema's required fields (placeholders), at every level."""
    schema = _branch(schema)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out = placeholder(schema) or {}
        out = out if isinstance(out, dict) else {}
        out.update({k: fill(props.get(k, {}), v) for k, v in value.items()})
        return out
    if isinstance(value, list):
        return [fill(schema.get("items", {}), v) for v in value]
    return value


def _errors(schema, instance) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
                  for e in validator.iter_errors(instance))


def _handler(fake: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.startswith("/_blobs/"):  # where an artifact's download redirects
                blob = fake.state.blobs.get(int(self.path.rsplit("/", 1)[1]))
                self.send_response(200 if blob is not None else 404)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(blob or b"")))
                self.end_headers()
                self.wfile.write(blob or b"")
                return
            body = json.loads(raw) if raw else None
            status, headers, payload = fake.handle(self.command, self.path, body,
                                                   self.headers.get("Authorization") or "")
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
