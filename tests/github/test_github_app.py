"""GitHub App installation tokens against the fake: it verifies the JWT's RS256 signature
with the App's public key, issues an installation token, then accepts only that token."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from github_env import SHA, fake_github

from modelcfg.cli.app import main


def pem_pair(kind=rsa):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind is rsa \
        else ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


@pytest.fixture(scope="module")
def keys():
    return pem_pair(), pem_pair()


@pytest.fixture
def gh(monkeypatch, tmp_path, keys):
    (private, public), _ = keys
    monkeypatch.chdir(tmp_path)
    with fake_github(monkeypatch, tmp_path) as fake:
        fake.app(4711, public, 99)
        monkeypatch.setenv("GITHUB_TOKEN", "not-the-apps")  # refused: the App's is used
        monkeypatch.setenv("MODELCFG_GITHUB_APP_ID", "4711")
        monkeypatch.setenv("MODELCFG_GITHUB_APP_PRIVATE_KEY", private)
        yield fake


def report(tmp_path):
    out = tmp_path / "gate-out"
    out.mkdir(exist_ok=True)
    (out / "gate.json").write_text(json.dumps({"verdict": "pass", "reasons": [],
                                               "configs": []}))
    (out / "report.md").write_text("# modelcfg gate: PASS\n")
    return main(["github", "report", "--gate-dir", str(out), "--pr", "7", "--sha", SHA])


def test_the_installation_is_looked_up_and_its_token_used(gh, tmp_path):
    assert report(tmp_path) == 0
    found, issued = gh.calls("GET", "/installation$"), gh.calls("POST", "/access_tokens$")
    assert [(r.path, r.status) for r in found + issued] == [
        ("/repos/octo/configs/installation", 200), ("/app/installations/99/access_tokens", 201)]
    assert found[0].authorization.startswith("Bearer ey")  # the JWT
    [token] = gh.state.tokens
    rest = [r for r in gh.requests if r not in found + issued]
    assert rest and {r.authorization for r in rest} == {f"token {token}"}
    assert [c["conclusion"] for c in gh.state.check_runs.values()] == ["success"]


def test_a_given_installation_id_is_not_looked_up(gh, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELCFG_GITHUB_APP_INSTALLATION_ID", "99")
    assert report(tmp_path) == 0
    assert not gh.calls("GET", "/installation$")
    assert len(gh.state.check_runs) == 1


def test_a_key_that_is_not_the_apps_is_refused(gh, tmp_path, monkeypatch, keys, capsys):
    monkeypatch.setenv("MODELCFG_GITHUB_APP_PRIVATE_KEY", keys[1][0])
    assert report(tmp_path) == 2
    err = capsys.readouterr().err
    assert "error: MC015 the GitHub App credentials are not usable: GitHub refused the JWT " \
        "signed with the key (HTTP 401 Bad credentials): the key is not App 4711's" in err
    assert [r.status for r in gh.requests] == [401]  # not retried, nothing posted
    assert not gh.state.check_runs


@pytest.mark.parametrize("key, app_id, why", [
    ("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", "4711",
     "MODELCFG_GITHUB_APP_PRIVATE_KEY is not an unencrypted PEM private key"),
    (None, "4711", "MODELCFG_GITHUB_APP_PRIVATE_KEY is not an RSA key (GitHub signs with RS256)"),
    ("rsa", "my-app", "MODELCFG_GITHUB_APP_ID is 'my-app', not a number"),
])
def test_unusable_credentials_fail_before_any_request(gh, tmp_path, monkeypatch, keys, capsys,
                                                      key, app_id, why):
    pem = keys[0][0] if key == "rsa" else key or pem_pair(ec)[0]
    monkeypatch.setenv("MODELCFG_GITHUB_APP_PRIVATE_KEY", pem)
    monkeypatch.setenv("MODELCFG_GITHUB_APP_ID", app_id)
    assert report(tmp_path) == 2
    assert f"error: MC015 the GitHub App credentials are not usable: {why}" in \
        capsys.readouterr().err
    assert gh.requests == []


def test_an_app_not_installed_on_the_repository(gh, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODELCFG_GITHUB_APP_INSTALLATION_ID", "12")  # another installation
    assert report(tmp_path) == 2
    assert "error: MC016 GitHub App 4711 is not installed on octo/configs (installation 12: " \
        "HTTP 404 Not Found)" in capsys.readouterr().err
    assert not gh.state.check_runs


def test_a_token_the_app_did_not_issue_is_refused(gh, tmp_path, monkeypatch, capsys):
    for name in ("MODELCFG_GITHUB_APP_ID", "MODELCFG_GITHUB_APP_PRIVATE_KEY"):
        monkeypatch.delenv(name)
    assert report(tmp_path) == 1  # GITHUB_TOKEN: the fake accepts only the App's tokens
    assert "MC014 create the check run modelcfg/gate: HTTP 401 Bad credentials" in \
        capsys.readouterr().err
