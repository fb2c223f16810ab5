"""lint checks files in worker processes: the report is the one of a single process.

Findings are located in the worker that read the file, totals of run rules (workloads
using a bad settings value) are added up across workers, and findings several files
share (a settings file's line, reported for the same workload name from two files) are
deduplicated across them: none of that may change what a user sees.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from meshrender.lint.run import lint_paths
from meshrender.settings.resolve import Options

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("text", "json", "sarif", "github")

BROKEN_WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: storefront}
spec:
  template: not-a-pod-template
"""

LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: listed-a
      namespace: payments
      annotations: {sidecar.istio.io/proxyCpu: 100m}
    spec:
      containers: [{name: a, image: a, securityContext: {runAsUser: 1337}}]
  - apiVersion: v1
    kind: Pod
    metadata: {name: listed-b, namespace: ops}
    spec:
      containers: [{name: b, image: b}]
"""


@pytest.fixture
def multi_repo(tmp_path) -> Path:
    """The lint demo, its payments apps twice more (the same workload names in other
    files: findings on settings lines dedup across workers, the bad port in the payments
    settings is counted over all of them), a List and a workload without a pod."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "fixtures" / "lint-demo", repo)
    for copy in ("payments-copy", "zz-payments-again"):
        shutil.copytree(repo / "apps" / "payments", repo / "apps" / copy)
    (repo / "apps" / "storefront" / "broken.yaml").write_text(BROKEN_WORKLOAD, encoding="utf-8")
    (repo / "apps" / "list.yaml").write_text(LIST, encoding="utf-8")
    return repo


def _lint(cli, repo: Path, fmt: str, jobs: str):
    return cli("lint", str(repo), "--format", fmt, "--fail-on", "warning",
               env={"MESHRENDER_JOBS": jobs, "KUBE_VERSION": None})


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_the_same_with_one_process_and_with_workers(cli, multi_repo, fmt):
    one = _lint(cli, multi_repo, fmt, "1")
    assert one.code == 1, one.err
    for jobs in ("2", "3"):
        many = _lint(cli, multi_repo, fmt, jobs)
        assert (many.code, many.out, many.err) == (one.code, one.out, one.err), f"MESHRENDER_JOBS={jobs}"


def test_the_multi_file_repo_exercises_what_crosses_workers(cli, multi_repo):
    doc = json.loads(_lint(cli, multi_repo, "json", "3").out)
    text = json.dumps(doc)
    # the bad settings value, totalled over three copies of payments/ (3 workloads each) and listed-a
    assert "failed parsing port '70000' (in the configuration of 10 workloads)" in text
    # a finding on a settings line for a workload name found in three files: reported once
    hold = [f for f in doc["findings"] if f["rule"] == "hold-application-ignored-in-native"
            and f["workload"] == "Deployment payments/checkout" and f["file"].endswith("sidecar-global.yaml")]
    assert len(hold) == 1
    files = {f["file"].rsplit("/apps/", 1)[-1] for f in doc["findings"]}
    assert {"payments/checkout.yaml", "payments-copy/checkout.yaml", "zz-payments-again/checkout.yaml",
            "list.yaml", "storefront/broken.yaml"} <= files
    assert doc["summary"]["suppressed"] > 0


def test_findings_located_in_workers_are_where_the_single_process_puts_them(multi_repo, monkeypatch):
    """Each worker locates the findings of the files it holds; one process holding every
    file in turn gives the same rules, places, workloads and messages."""
    options = Options()
    monkeypatch.delenv("KUBE_VERSION", raising=False)
    reference = lint_paths([str(multi_repo)], options, workers=1)
    monkeypatch.setenv("MESHRENDER_JOBS", "3")
    streamed = lint_paths([str(multi_repo)], options)
    assert streamed.findings == reference.findings
    assert streamed.suppressed == reference.suppressed
    assert streamed.summary() == reference.summary()
    lines = {(Path(f.location.path).name, f.location.line, f.location.column) for f in streamed.findings}
    assert ("checkout.yaml", 19, 9) in lines  # an annotation value, in the manifest
    assert ("sidecar-payments.yaml", 18, 5) in lines  # a settings field, in the settings file
    assert ("list.yaml", 9, 21) in lines  # an item of a List, in a flow mapping
    assert ("list.yaml", 11, 58) in lines


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_bad_input_is_the_first_error_in_input_order_with_workers(cli, multi_repo, jobs):
    (multi_repo / "apps" / "payments-copy" / "ledger.yaml").write_text("kind: [\n", encoding="utf-8")
    (multi_repo / "apps" / "zz-payments-again" / "checkout.yaml").write_text("a: b\n  c: d\n", encoding="utf-8")
    r = _lint(cli, multi_repo, "json", jobs)
    assert r.code == 2 and r.out == ""
    first = r.err.splitlines()[0]
    assert first.startswith(f"meshrender: {multi_repo}/apps/payments-copy/ledger.yaml:1:8: error")
    assert "Traceback" not in r.err


def test_an_empty_repository_is_bad_input_with_workers(cli, tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("# nothing here\n", encoding="utf-8")
    r = cli("lint", str(tmp_path), env={"MESHRENDER_JOBS": "2", "KUBE_VERSION": None})
    assert r.code == 2
    assert "no YAML documents in the inputs" in r.err


def test_a_bad_flag_after_good_files_is_still_exit_2(cli, multi_repo):
    r = cli("lint", str(multi_repo), "--kube-version", "one-point-thirty",
            env={"MESHRENDER_JOBS": "2", "KUBE_VERSION": None})
    assert r.code == 2 and "Kubernetes version 'one-point-thirty'" in r.err



def _deployment(name: str, namespace: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: app}}]
"""


SETTINGS = """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  traffic:
    excludeInboundPorts: "9102,70000"
    excludeOutboundPorts: "99999"
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: team, namespace: team}
spec:
  traffic:
    excludeOutboundPorts: "15000"
"""


def _invalid_counts(cli, repo: Path, jobs: str) -> dict[int, str]:
    r = cli("lint", str(repo), "--format", "json", env={"MESHRENDER_JOBS": jobs, "KUBE_VERSION": None})
    return {f["line"]: f["message"].rpartition(" (")[2] for f in json.loads(r.out)["findings"]
            if f["rule"] == "invalid-mesh-annotation"}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_bad_settings_values_count_the_workloads_of_every_worker(cli, tmp_path, jobs):
    """A global value counts every workload whose configuration keeps it, in whichever
    process it was checked; one that every workload overrides is still reported."""
    (tmp_path / "settings.yaml").write_text(SETTINGS, encoding="utf-8")
    for i in range(3):
        (tmp_path / f"team-{i}.yaml").write_text(_deployment(f"team-{i}", "team"), encoding="utf-8")
    assert _invalid_counts(cli, tmp_path, jobs) == {6: "in the configuration of 3 workloads)",
                                                    7: "in the configuration of 0 workloads)"}
    for i in range(6):
        (tmp_path / f"shop-{i}.yaml").write_text(_deployment(f"shop-{i}", "shop"), encoding="utf-8")
    assert _invalid_counts(cli, tmp_path, jobs) == {6: "in the configuration of 9 workloads)",
                                                    7: "in the configuration of 6 workloads)"}
