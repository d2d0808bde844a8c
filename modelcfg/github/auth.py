"""The token every ``modelcfg github`` command uses: a GitHub App installation token when
``MODELCFG_GITHUB_APP_ID`` and ``MODELCFG_GITHUB_APP_PRIVATE_KEY`` are set, else
``GITHUB_TOKEN``.

The App's JWT is signed with its private key (RS256, PyGithub's ``Auth.AppAuth``); the
installation is ``MODELCFG_GITHUB_APP_INSTALLATION_ID`` or the App's installation on the
repository (``GET /repos/{owner}/{repo}/installation``); its token comes from
``POST /app/installations/{id}/access_tokens``. Both requests follow the retry rule.
"""

from __future__ import annotations

import os

from modelcfg.core.errors import UserError
from modelcfg.github.client import GitHubFailed, Pacing, call

APP_ID = "MODELCFG_GITHUB_APP_ID"
APP_KEY = "MODELCFG_GITHUB_APP_PRIVATE_KEY"
APP_INSTALLATION = "MODELCFG_GITHUB_APP_INSTALLATION_ID"


def token(repo: str, api_url: str, pacing: Pacing) -> str:
    if os.environ.get(APP_ID) or os.environ.get(APP_KEY):
        return app_token(repo, api_url, pacing)
    found = os.environ.get("GITHUB_TOKEN")
    if not found:
        raise UserError("MC010", "GITHUB_TOKEN is not set: pass the workflow's token "
                        "(permissions checks: write, pull-requests: write) or set "
                        f"{APP_ID} and {APP_KEY} for a GitHub App", exit_code=2)
    return found


def _bad_key(why: str) -> UserError:
    return UserError("MC015", f"the GitHub App credentials are not usable: {why}; set {APP_ID} "
                     f"to the App's numeric ID and {APP_KEY} to its private key (the PEM text "
                     "of the .pem file GitHub generated)", exit_code=2)


def _private_key() -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem = os.environ.get(APP_KEY, "").replace("\\n", "\n").strip()
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise _bad_key(f"{APP_KEY} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _bad_key(f"{APP_KEY} is not an RSA key (GitHub signs with RS256)")
    return pem + "\n"


def app_token(repo: str, api_url: str, pacing: Pacing) -> str:
    from github import Auth, GithubIntegration

    app_id = os.environ.get(APP_ID, "").strip()
    if not app_id.isdigit():
        raise _bad_key(f"{APP_ID} is {app_id or 'not set'!r}, not a number")
    installation = os.environ.get(APP_INSTALLATION, "").strip()
    if installation and not installation.isdigit():
        raise _bad_key(f"{APP_INSTALLATION} is {installation!r}, not a number")
    integration = GithubIntegration(auth=Auth.AppAuth(int(app_id), _private_key()),
                                    base_url=api_url.rstrip("/"), retry=None, timeout=30,
                                    seconds_between_requests=None, seconds_between_writes=None)
    owner, name = repo.split("/")
    try:
        number = int(installation) if installation else call(
            f"find the App's installation on {repo}",
            lambda: integration.get_repo_installation(owner, name).id, pacing)
        return call("create an installation token",
                    lambda: integration.get_access_token(number).token, pacing)
    except GitHubFailed as exc:
        detail = exc.failure.detail
        if detail.startswith("HTTP 401"):
            raise _bad_key(f"GitHub refused the JWT signed with the key ({detail}): the key "
                           f"is not App {app_id}'s") from None
        if detail.startswith("HTTP 404"):
            raise UserError("MC016", f"GitHub App {app_id} is not installed on {repo} "
                            f"(installation {installation or '?'}: {detail}): install the "
                            "App on the repository, or fix "
                            f"{APP_INSTALLATION}", exit_code=2) from None
        raise UserError(exc.failure.code, f"GitHub App token: {exc.failure.render()}",
                        exit_code=2) from None
