"""`render -o` records how it rendered; `render-check` re-runs that and reports staleness."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from tests.conftest import ROOT

HELLO = (ROOT / "fixtures" / "demo" / "apps" / "storefront" / "web.yaml").read_text()
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: hello}\nspec: {ports: [{port: 80}]}\n"
VALUES = "global:\n  proxy:\n    resources:\n      requests: {cpu: 123m}\n"


@pytest.fixture
def gitops(repo, monkeypatch):
    """A repository with sources in apps/ and istio/, rendered into deploy/; cwd is its root."""
    root = repo({"apps/hello.yaml": HELLO, "apps/svc.yaml": SERVICE, "istio/values.yaml": VALUES})
    monkeypatch.chdir(root)
    return root


def refresh_command(out: str) -> list[str]:
    lines = out.splitlines()
    return shlex.split(lines[lines.index("Refresh it with:") + 1])[1:]


def test_render_records_inputs_and_options_relative_to_the_output(cli, gitops):
    r = cli("render", "apps", "-o", "deploy", "--values", "istio/values.yaml", "--kube-version", "1.30", "-q")
    assert r.code == 0, r.err
    marker = (gitops / "deploy" / ".meshrender-output").read_text()
    assert marker.startswith("# Written by `meshrender render -o`")
    recorded = yaml.safe_load(marker)
    assert {k: v for k, v in recorded.items() if k != "digests"} == {
        "version": 1, "render": {"paths": ["../apps"], "kube-version": "1.30", "values": ["../istio/values.yaml"]}}
    # and, last, what an incremental check needs: a line per input file (run/incremental.py)
    lines = recorded["digests"].splitlines()
    assert [json.loads(line)[0] for line in lines[1:]] == ["../apps/hello.yaml", "../apps/svc.yaml"]
    assert [json.loads(line)[5] for line in lines[1:]] == ["hello.yaml", "svc.yaml"]


def test_up_to_date_output_passes(cli, gitops):
    assert cli("render", "apps", "-o", "deploy", "--values", "istio/values.yaml", "-q").code == 0
    r = cli("render-check")
    assert r.code == 0, r.out + r.err
    assert "deploy is up to date" in r.err


def test_stale_output_fails_listing_files_and_the_refresh_command(cli, gitops):
    assert cli("render", "apps", "-o", "deploy", "--values", "istio/values.yaml", "-q").code == 0
    (gitops / "istio" / "values.yaml").write_text(VALUES.replace("123m", "200m"))  # changes hello only
    (gitops / "apps" / "new.yaml").write_text(SERVICE.replace("hello", "new"))
    (gitops / "deploy" / "old.yaml").write_text(SERVICE)
    r = cli("render-check")
    assert r.code == 1
    assert "changed  deploy/hello.yaml" in r.out
    assert "deploy/svc.yaml" not in r.out
    assert "missing  deploy/new.yaml" in r.out
    assert "extra    deploy/old.yaml" in r.out
    command = refresh_command(r.out)
    assert command == ["render", "apps", "-o", "deploy", "--values", "istio/values.yaml"]
    assert cli(*command).code == 0
    assert cli("render-check").code == 0
    assert "cpu: 200m" in (gitops / "deploy" / "hello.yaml").read_text()


def test_recorded_render_is_replayed_from_any_folder(cli, gitops, monkeypatch):
    assert cli("render", "apps", "-o", "deploy", "--values", "istio/values.yaml", "-q").code == 0
    monkeypatch.chdir(gitops / "istio")
    assert cli("render-check", "--against", "../deploy").code == 0
    (gitops / "istio" / "values.yaml").write_text(VALUES.replace("123m", "300m"))
    r = cli("render-check", "--against", "../deploy")
    assert r.code == 1
    assert refresh_command(r.out) == ["render", "../apps", "-o", "../deploy", "--values", "values.yaml"]


def test_explicit_inputs_and_options(cli, gitops):
    assert cli("render", "apps", "-o", "deploy", "-q").code == 0
    assert cli("render-check", "apps", "--against", "deploy").code == 0
    r = cli("render-check", "apps", "--against", "deploy", "--flavor", "istio")
    assert r.code == 1
    assert refresh_command(r.out) == ["render", "apps", "-o", "deploy", "--flavor", "istio"]


def test_windows_line_endings_are_not_drift(cli, gitops):
    assert cli("render", "apps", "-o", "deploy", "-q").code == 0
    f = gitops / "deploy" / "svc.yaml"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    assert cli("render-check").code == 0


def test_every_rendered_folder_is_checked(cli, gitops):
    assert cli("render", "apps", "-o", "deploy/prod", "--kube-version", "1.30", "-q").code == 0
    assert cli("render", "apps", "-o", "deploy/old", "--kube-version", "1.27", "-q").code == 0
    assert cli("render-check").code == 0
    (gitops / "apps" / "svc.yaml").write_text(SERVICE.replace("80", "8080"))
    r = cli("render-check")
    assert r.code == 1
    assert "deploy/old is stale" in r.out and "deploy/prod is stale" in r.out


@pytest.mark.parametrize("setup, args, message", [
    (None, [], "found no folder written by `meshrender render -o`"),
    ("old-marker", [], "does not record the render it came from"),
    ("stdin", [], "rendered from standard input"),
    ("ok", ["--flavor", "istio"], "--flavor applies to PATH... --against DIR"),
    ("ok", ["apps"], "PATH... needs --against DIR"),
    ("ok", ["apps", "--against", "apps/sub"], "inside the input folder"),
])
def test_usage_errors(cli, gitops, setup, args, message):
    if setup == "ok":
        assert cli("render", "apps", "-o", "deploy", "-q").code == 0
    elif setup == "old-marker":
        assert cli("render", "apps", "-o", "deploy", "-q").code == 0
        (gitops / "deploy" / ".meshrender-output").write_text("written by meshrender 0.0.1\n")
    elif setup == "stdin":
        assert cli("render", "-", "-o", "deploy", "-q", stdin=SERVICE).code == 0
    r = cli("render-check", *args)
    assert r.code == 2
    assert message in r.err


def test_bad_input_is_exit_2_not_stale(cli, gitops):
    assert cli("render", "apps", "-o", "deploy", "-q").code == 0
    (gitops / "apps" / "svc.yaml").write_text("kind: Service\n  bad: [\n")
    r = cli("render-check")
    assert r.code == 2
    assert "apps/svc.yaml:" in r.err


def test_inputs_that_would_overwrite_each_other_are_refused(cli, repo, tmp_path):
    root = repo({"a/x.yaml": SERVICE, "b/x.yaml": SERVICE.replace("hello", "other")})
    r = cli("render", str(root / "a"), str(root / "b"), "-o", str(tmp_path / "out"))
    assert r.code == 2
    assert "would both be written to x.yaml" in r.err
    assert not (tmp_path / "out").exists()


def test_the_hook_manifest_runs_render_check_with_no_filenames():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    check = hooks["meshrender-render-check"]
    assert check["entry"] == "meshrender render-check"
    assert check["pass_filenames"] is False and check["always_run"] is True
    lint = hooks["meshrender-lint"]
    assert lint["entry"] == "meshrender lint" and lint["require_serial"] is True and lint["types"] == ["yaml"]
