"""Incremental work (run/digests.py, run/incremental.py, run/cache.py): render-check and
diff re-render only what changed since the render the marker records, the local cache
serves per-file results of render and lint, and neither ever gives another answer than
a full run.

The suite runs with MESHRENDER_CACHE=verify (tests/conftest.py): every render-check,
diff, render and lint below also runs in full, and any difference is an internal error
(exit 2). So each case asserts what a user sees and, through that, that the incremental
answer is the full one.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from meshrender.run import cache as cache_mod
from meshrender.run import digests, incremental
from meshrender.run import recipe as recipe_mod

PROFILE = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""


def deployment(name: str, ns: str, image: str = "nginx:1.25", labels: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}{labels}}}}}
    spec: {{containers: [{{name: {name}, image: "{image}"}}]}}
"""


def sps(name: str, ns: str | None, concurrency: int, selector: str | None = None) -> str:
    meta = f"{{name: {name}, namespace: {ns}}}" if ns else f"{{name: {name}}}"
    sel = f"  selector: {{matchLabels: {{{selector}}}}}\n" if selector else ""
    return (f"apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\nmetadata: {meta}\nspec:\n{sel}"
            f"  proxy: {{concurrency: {concurrency}}}\n")


FILES = {
    "cluster/profile.yaml": PROFILE,
    "mesh/global.yaml": sps("global", None, 2),
    "mesh/shop.yaml": sps("shop", "shop", 3),
    "mesh/pay-batch.yaml": sps("pay-batch", "pay", 4, "tier: batch"),
    "apps/shop/web.yaml": deployment("web", "shop"),
    "apps/shop/cart.yaml": deployment("cart", "shop") + "---\napiVersion: v1\nkind: Service\n"
                           "metadata: {name: cart, namespace: shop}\nspec: {ports: [{port: 80}]}\n",
    "apps/pay/ledger.yaml": deployment("ledger", "pay", labels=", tier: batch"),
    "apps/pay/api.yaml": deployment("api", "pay"),
    "apps/pay/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pay, namespace: pay}\n"
                            "data: {a: b}\n",
}
INPUTS = ("apps", "mesh", "cluster")


@pytest.fixture(params=["here", "workers"])
def gitops(request, tmp_path, monkeypatch, cli):
    """A repository rendered into deploy/ (cwd: its root), with a cache of its own; each
    test runs twice: with the inputs and the committed output hashed in this process (a
    repository this small), and in worker processes (as a large one)."""
    if request.param == "workers":
        monkeypatch.setattr(incremental, "WORKER_MIN_FILES", 0)
        monkeypatch.delenv("MESHRENDER_JOBS", raising=False)
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MESHRENDER_CACHE_DIR", str(tmp_path / "cache"))
    r = cli("render", *INPUTS, "-o", "deploy", "-q")
    assert r.code == 0, r.err
    return root


def evaluated(out: str = "deploy") -> set[str] | None:
    """The inputs an incremental check of `out` re-renders (None: it runs in full)."""
    recipe = recipe_mod.read(Path(out))
    options = recipe.options.with_config(recipe.options.config)
    outcome = incremental.run(Path(out), recipe, options)
    if outcome is None:
        return None
    return {f.display for f, _ in outcome.rendered.outputs}


def check(cli, *args: str) -> tuple[int, str]:
    r = cli("render-check", *args)
    assert "internal error" not in r.err, r.err
    return r.code, r.out + r.err


def write(path: str, text: str) -> None:
    Path(path).write_text(text)


def test_the_marker_records_a_line_per_input(gitops):
    recipe = recipe_mod.read(Path("deploy"))
    record = incremental.parse(recipe.digests)
    assert record is not None
    by_input = {f.input: f for f in record.files}
    assert set(by_input) == {f"../{rel}" for rel in FILES}
    web = by_input["../apps/shop/web.yaml"]
    assert web.deps == ("ns:shop",) and web.output == "shop/web.yaml" and web.documents == 1
    assert web.fingerprint == digests.fingerprint(Path("apps/shop/web.yaml").read_bytes())
    assert web.out_fingerprint == digests.fingerprint(Path("deploy/shop/web.yaml").read_bytes())
    assert by_input["../mesh/shop.yaml"].defines == ("ns:shop",)
    assert by_input["../mesh/global.yaml"].defines == ("run",)
    assert by_input["../apps/shop/cart.yaml"].keys == [("apps", "Deployment", "shop", "cart"),
                                                      ("", "Service", "shop", "cart")]
    # nothing but manifests and the marker in the output folder
    assert sorted(p.name for p in Path("deploy").rglob("*") if p.is_file()) == [
        ".meshrender-output", "api.yaml", "cart.yaml", "config.yaml", "ledger.yaml", "web.yaml"]


def test_unchanged_repository_re_renders_nothing(gitops, cli):
    assert evaluated() == set()
    assert check(cli)[0] == 0
    r = cli("diff", *INPUTS, "--against", "deploy")
    assert r.code == 0 and "up to date (5 files, 6 documents compared)" in r.err + r.out


def test_one_changed_file_is_the_only_one_re_rendered(gitops, cli):
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    assert evaluated() == {"apps/shop/web.yaml"}
    code, out = check(cli)
    assert code == 1 and "changed  deploy/shop/web.yaml" in out and "cart.yaml" not in out
    r = cli("diff", *INPUTS, "--against", "deploy")
    assert r.code == 1 and "nginx:1.27" in r.out and "cart" not in r.out


def test_a_namespace_setting_re_renders_exactly_that_namespace(gitops, cli):
    write("mesh/shop.yaml", sps("shop", "shop", 5))
    assert evaluated() == {"apps/shop/web.yaml", "apps/shop/cart.yaml", "mesh/shop.yaml"}
    code, out = check(cli)
    assert code == 1 and "web.yaml" in out and "cart.yaml" in out and "ledger.yaml" not in out


def test_a_selector_setting_re_renders_exactly_the_workloads_it_matches(gitops, cli):
    write("mesh/pay-batch.yaml", sps("pay-batch", "pay", 6, "tier: batch"))  # what it sets, not where
    assert evaluated() == {"apps/pay/ledger.yaml", "mesh/pay-batch.yaml"}
    code, out = check(cli)
    assert code == 1 and "ledger.yaml" in out and "api.yaml" not in out


PC_BATCH = ("apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\nmetadata: {name: batch, namespace: pay}\n"
            "spec: {selector: {matchLabels: {tier: batch}}, environmentVariables: {MODE: one}}\n")


def test_a_selector_proxyconfig_re_renders_exactly_the_workloads_it_matches(gitops, cli):
    write("mesh/pc-batch.yaml", PC_BATCH)
    assert cli("render", *INPUTS, "-o", "deploy", "-q").code == 0
    write("mesh/pc-batch.yaml", PC_BATCH.replace("MODE: one", "MODE: two"))
    assert evaluated() == {"apps/pay/ledger.yaml", "mesh/pc-batch.yaml"}
    code, out = check(cli)
    assert code == 1 and "changed  deploy/pay/ledger.yaml" in out and "api.yaml" not in out
    assert cli("render-check", "--no-cache").out == out


@pytest.mark.parametrize("change", [
    ("mesh/pay-batch.yaml", sps("pay-batch", "pay", 4, "app: api")),  # aimed elsewhere
    ("mesh/pay-batch.yaml", sps("pay-batch", "pay", 4)),  # no selector: the whole namespace
    ("mesh/pay-api.yaml", sps("pay-api", "pay", 5, "app: api")),  # a new one
    ("mesh/pay-batch.yaml", None),  # removed
])
def test_a_selector_that_may_apply_to_other_workloads_re_renders_its_namespace(gitops, cli, change):
    path, text = change
    if text is None:
        Path(path).unlink()
    else:
        write(path, text)
    assert evaluated() == {"apps/pay/ledger.yaml", "apps/pay/api.yaml"} | ({path} if text else set())
    code, out = check(cli)
    assert code == 1 and "shop" not in out


@pytest.mark.parametrize("change", [
    ("mesh/global.yaml", sps("global", None, 7)),
    ("cluster/profile.yaml", PROFILE.replace('kubernetesVersion: "1.30"', 'kubernetesVersion: "1.29"')),
    ("mesh/root-pc.yaml", "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\n"
                          "metadata: {name: mesh, namespace: istio-system}\nspec: {concurrency: 9}\n"),
    ("mesh/webhook.yaml", "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n"
                          "metadata: {name: istio-sidecar-injector}\nwebhooks: []\n"),
])
def test_a_mesh_wide_change_runs_in_full(gitops, cli, change):
    path, text = change
    write(path, text)
    assert evaluated() is None
    assert check(cli)[0] in (0, 1)


@pytest.mark.parametrize("change", [
    ("mesh/ns-pc.yaml", "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\n"
                        "metadata: {name: pay, namespace: pay}\nspec: {concurrency: 9}\n"),
    ("mesh/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: pay, labels: {istio-injection: disabled}}\n"),
])
def test_a_namespaced_resource_re_renders_its_namespace(gitops, cli, change):
    path, text = change
    write(path, text)
    assert evaluated() == {path, "apps/pay/ledger.yaml", "apps/pay/api.yaml"}
    assert check(cli)[0] == 1


@pytest.mark.parametrize("flag", [("--flavor", "istio"), ("--kube-version", "1.29"), ("--native-sidecars", "false"),
                                  ("-n", "other")])
def test_other_options_check_in_full(gitops, cli, flag):
    assert recipe_mod.recorded_digests(Path("deploy")) is not None  # read, and its run scope differs
    r = cli("render-check", *INPUTS, "--against", "deploy", *flag)
    assert r.code == (0 if flag[0] == "-n" else 1) and "internal error" not in r.err, r.err


def test_values_and_mesh_config_files_are_part_of_every_file(gitops, cli, tmp_path):
    write("values.yaml", "global:\n  proxy:\n    privileged: true\n")
    r = cli("render", *INPUTS, "--values", "values.yaml", "-o", "deploy", "-q")
    assert r.code == 0, r.err
    assert evaluated() == set()
    write("values.yaml", "global:\n  proxy:\n    privileged: false\n")
    assert evaluated() is None
    assert check(cli)[0] == 1


def test_another_meshrender_build_runs_in_full(gitops, cli, monkeypatch):
    monkeypatch.setattr(digests, "code_digest", lambda: "0" * 32)
    assert evaluated() is None
    assert check(cli)[0] == 0


def test_another_version_of_a_library_runs_in_full(gitops, cli, monkeypatch):
    """An upgraded PyYAML (or any distribution beside meshrender) may read a file
    otherwise: records and cached results of the previous install are not used."""
    installed = digests.installed
    before = installed()
    assert any(n.lower().startswith("pyyaml-") for n in before)
    upgraded = [n if not n.lower().startswith("pyyaml-") else "PyYAML-99.0.dist-info" for n in before]
    monkeypatch.setattr(digests, "installed", lambda: upgraded)
    digests.code_digest.cache_clear()
    try:
        assert evaluated() is None
        assert check(cli)[0] == 0
    finally:
        monkeypatch.setattr(digests, "installed", installed)
        digests.code_digest.cache_clear()
    assert evaluated() == set()


def test_a_marker_of_another_fingerprint_runs_in_full(gitops, cli, monkeypatch):
    """The marker names the algorithm of its fingerprints (digests.FINGERPRINT): one
    written with another is not used, whatever its files' records say."""
    monkeypatch.setattr(digests, "FINGERPRINT", "sha256-128")
    monkeypatch.setattr(digests, "_fingerprint", digests.digest)
    assert evaluated() is None
    assert check(cli)[0] == 0
    assert cli("render", *INPUTS, "-o", "deploy", "-q").code == 0
    assert evaluated() == set()  # (the same algorithm now: used)
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    assert evaluated() == {"apps/shop/web.yaml"}


def test_an_incremental_check_finds_results_by_the_digest_of_each_files_text(gitops, cli, monkeypatch):
    """The result cache is keyed by each file's SHA-256 digest, never by the marker's
    fingerprints (run/digests.py): files an incremental check re-renders because their
    namespace changed, unread until then, are found under the keys a render stored."""
    from meshrender.run import driver

    monkeypatch.setenv("MESHRENDER_JOBS", "1")  # (evaluated here, where the calls are seen)
    monkeypatch.setenv("MESHRENDER_CACHE", "1")  # served, not verified
    monkeypatch.setattr(driver, "PARALLEL_MIN_FILES", 0)  # (a check of a few files keeps no results)
    write("mesh/shop.yaml", sps("shop", "shop", 5))
    assert cli("render", *INPUTS).code == 0  # every file's result, under the new scopes
    calls: list[str] = []
    real = driver.evaluate_file
    monkeypatch.setattr(driver, "evaluate_file", lambda f, c: calls.append(f.display) or real(f, c))
    code, out = check(cli)
    assert code == 1 and "changed  deploy/shop/web.yaml" in out and "changed  deploy/shop/cart.yaml" in out
    assert calls == []
    monkeypatch.setenv("MESHRENDER_CACHE_DIR", str(gitops.parent / "empty-cache"))
    assert check(cli) == (code, out) and sorted(calls) == ["apps/shop/cart.yaml", "apps/shop/web.yaml",
                                                           "mesh/shop.yaml"]


def test_settings_the_recorded_render_validated_are_not_validated_again(gitops, cli, monkeypatch):
    """The recorded render validated every settings document of the files that are
    unchanged since (same bytes, same meshrender and libraries): a check takes them as
    valid. A changed file's documents are validated, and an invalid one is the error a
    full run gives."""
    from meshrender.settings import schema

    names: list[str] = []
    real = schema.first_error
    monkeypatch.setattr(schema, "first_error",
                        lambda data, name: names.append(data["metadata"]["name"]) or real(data, name))
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    assert evaluated() == {"apps/shop/web.yaml"} and names == []
    write("mesh/shop.yaml", sps("shop", "shop", 5))
    evaluated()
    assert names == ["shop"]
    write("mesh/shop.yaml", sps("shop", "shop", 5).replace("concurrency: 5", "concurrency: many"))
    r, full = cli("render-check"), cli("render", *INPUTS)
    assert r.code == full.code == 2 and r.err.splitlines()[0] == full.err.splitlines()[0]
    assert "concurrency" in r.err


def test_hand_edited_output_is_found_and_shown(gitops, cli):
    p = Path("deploy/pay/api.yaml")
    p.write_text(p.read_text().replace("nginx:1.25", "nginx:9"))
    assert evaluated() == {"apps/pay/api.yaml"}
    code, out = check(cli)
    assert code == 1 and "changed  deploy/pay/api.yaml" in out
    r = cli("diff", *INPUTS, "--against", "deploy")
    assert r.code == 1 and "~ pay/api.yaml" in r.out and "nginx:9" in r.out


def test_new_removed_and_extra_files(gitops, cli):
    write("apps/shop/new.yaml", deployment("new", "shop"))
    os.remove("apps/pay/config.yaml")
    Path("deploy/stray.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert evaluated() == {"apps/shop/new.yaml"}
    code, out = check(cli)
    assert code == 1
    assert "missing  deploy/shop/new.yaml" in out
    assert "extra    deploy/pay/config.yaml" in out and "extra    deploy/stray.yaml" in out


def test_a_duplicate_in_a_changed_file_is_reported_as_a_full_render_does(gitops, cli):
    write("apps/shop/web.yaml", deployment("web", "shop") + "---\n" + deployment("api", "pay"))
    assert evaluated() is None  # only a full run says which copy comes first
    r = cli("render-check")
    assert r.code == 2 and "Deployment pay/api is defined twice" in r.err and "internal error" not in r.err


def test_an_error_in_a_changed_file_is_the_full_runs_error(gitops, cli):
    write("apps/shop/web.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: [}\n")
    r = cli("render-check")
    full = cli("render", *INPUTS)
    assert r.code == full.code == 2 and r.err.splitlines()[0] == full.err.splitlines()[0]


def test_other_input_paths_use_the_record_only_where_names_agree(gitops, cli):
    # rendering apps/shop alone names its outputs web.yaml, cart.yaml: not the recorded ones
    r = cli("diff", "apps/shop", "mesh", "cluster", "--against", "deploy")
    assert r.code == 1 and "internal error" not in r.err, r.err


@pytest.mark.parametrize("damage", ["truncated", "garbage", "types", "forged-format"])
def test_a_damaged_digests_block_means_a_full_check(gitops, cli, damage):
    marker = Path("deploy/.meshrender-output")
    text = marker.read_text()
    head, _, block = text.partition("\ndigests: |\n")
    lines = block.splitlines()
    if damage == "truncated":
        block = "\n".join(lines[:2])[:-10] + "\n"
    elif damage == "garbage":
        block = "  \x00\x01 not json\n"
    elif damage == "types":
        row = json.loads(lines[1])
        row[2] = [["nested"]]
        block = "\n".join([lines[0], "  " + json.dumps(row), *lines[2:]]) + "\n"
    else:
        block = "  " + json.dumps({"format": 99}) + "\n" + "\n".join(lines[1:]) + "\n"
    marker.write_text(head + "\ndigests: |\n" + block)
    if damage != "garbage":  # (a control character is refused by the YAML reader first)
        assert evaluated() is None
    code, _ = check(cli)
    assert code in (0, 2)


def test_render_o_rewrites_only_what_changed(gitops, cli):
    before = {p: os.stat(p).st_ino for p in Path("deploy").rglob("*.yaml")}
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    assert cli("render", *INPUTS, "-o", "deploy", "-q").code == 0
    after = {p: os.stat(p).st_ino for p in Path("deploy").rglob("*.yaml")}
    assert set(before) == set(after)
    assert [str(p) for p in after if after[p] != before[p]] == ["deploy/shop/web.yaml"]
    assert check(cli)[0] == 0


def test_render_o_removes_outputs_whose_source_went_away(gitops, cli):
    os.remove("apps/shop/cart.yaml")
    assert cli("render", *INPUTS, "-o", "deploy", "-q").code == 0
    assert not Path("deploy/shop/cart.yaml").exists() and Path("deploy/shop/web.yaml").exists()


# -- the local cache ------------------------------------------------------------------------

def entries(root: Path) -> list[Path]:
    """The entries of a cache folder (rows of its database)."""
    import sqlite3

    database = root / cache_mod.DATABASE
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute("SELECT key FROM results")]


def test_lint_and_render_keep_per_file_results(gitops, cli, tmp_path, monkeypatch):
    from meshrender.run import driver

    calls: list[str] = []
    real = driver.evaluate_file
    monkeypatch.setattr(driver, "evaluate_file", lambda f, c: calls.append(f.display) or real(f, c))
    monkeypatch.setenv("MESHRENDER_CACHE", "1")  # served, not verified
    first = cli("lint", *INPUTS, "--format", "json")
    assert len(calls) == len(FILES)
    calls.clear()
    second = cli("lint", *INPUTS, "--format", "json")
    assert second.out == first.out and second.code == first.code and calls == []
    write("mesh/shop.yaml", sps("shop", "shop", 5))
    third = cli("lint", *INPUTS, "--format", "json")
    assert sorted(calls) == ["apps/shop/cart.yaml", "apps/shop/web.yaml", "mesh/shop.yaml"]
    monkeypatch.setenv("MESHRENDER_CACHE", "0")
    assert cli("lint", *INPUTS, "--format", "json").out == third.out
    calls.clear()
    monkeypatch.setenv("MESHRENDER_CACHE", "1")
    a = cli("render", *INPUTS)
    calls.clear()
    b = cli("render", *INPUTS)
    assert a.out == b.out and calls == []


def test_cached_results_follow_the_selector_settings_that_match_them(gitops, cli, monkeypatch):
    """A changed selector setting re-evaluates, from the cache too, exactly the files
    whose workloads it matches; a new selector setting, its whole namespace; what is
    served is what an evaluation gives."""
    from meshrender.run import driver

    calls: list[str] = []
    real = driver.evaluate_file
    monkeypatch.setattr(driver, "evaluate_file", lambda f, c: calls.append(f.display) or real(f, c))
    monkeypatch.setenv("MESHRENDER_JOBS", "1")  # (evaluated here, where the calls are seen)
    monkeypatch.setenv("MESHRENDER_CACHE", "1")  # served, not verified
    for command in ("lint", "render"):
        assert cli(command, *INPUTS).code in (0, 1)
    write("mesh/pay-batch.yaml", sps("pay-batch", "pay", 6, "tier: batch"))
    for change in ("content", "new"):
        if change == "new":  # (every file of the namespace: the settings files are objects in it)
            write("mesh/pay-api.yaml", sps("pay-api", "pay", 5, "app: api"))
        for command in ("lint", "render"):
            calls.clear()
            served = cli(command, *INPUTS)
            expected = {"apps/pay/ledger.yaml", "mesh/pay-batch.yaml"} if change == "content" else \
                {"apps/pay/ledger.yaml", "apps/pay/api.yaml", "apps/pay/config.yaml", "mesh/pay-api.yaml",
                 "mesh/pay-batch.yaml"}
            assert set(calls) == expected, (command, change)
            monkeypatch.setenv("MESHRENDER_CACHE", "0")
            fresh = cli(command, *INPUTS)
            monkeypatch.setenv("MESHRENDER_CACHE", "1")
            assert (served.code, served.out) == (fresh.code, fresh.out)


def test_the_cache_is_off_when_asked(gitops, cli, tmp_path, monkeypatch):
    folder = tmp_path / "cache2"
    monkeypatch.setenv("MESHRENDER_CACHE_DIR", str(folder))
    monkeypatch.setenv("MESHRENDER_CACHE", "0")
    assert cli("lint", *INPUTS).code in (0, 1)
    assert not folder.exists() or entries(folder) == []
    monkeypatch.setenv("MESHRENDER_CACHE", "1")
    assert cli("lint", *INPUTS, "--no-cache").code in (0, 1)
    assert not folder.exists() or entries(folder) == []
    assert cli("lint", *INPUTS).code in (0, 1)  # (--no-cache held for one command only)
    assert entries(folder)


def test_a_corrupt_or_foreign_cache_is_ignored(gitops, cli, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MESHRENDER_CACHE", "1")
    first = cli("lint", *INPUTS, "--format", "json")
    database = folder / cache_mod.DATABASE
    database.write_bytes(database.read_bytes()[: database.stat().st_size // 2])  # truncated
    assert cli("lint", *INPUTS, "--format", "json").out == first.out
    database.write_bytes(b"not a cache" * 1000)
    assert cli("lint", *INPUTS, "--format", "json").out == first.out
    assert (folder / cache_mod.DATABASE).stat().st_size > 10_000  # started anew, and filled
    # an entry that does not unpickle is a miss
    import sqlite3

    with sqlite3.connect(database) as db:
        db.execute("UPDATE results SET value = ?", (b"\x80\x05garbage",))
    db.close()
    assert cli("lint", *INPUTS, "--format", "json").out == first.out
    os.chmod(folder, 0o777)  # others may write it: not used
    assert cache_mod.ResultCache.open("lint", "x") is None
    os.chmod(folder, 0o700)
    assert cache_mod.ResultCache.open("lint", "x") is not None


def test_the_cache_stays_within_its_bound(tmp_path, monkeypatch):
    root = tmp_path / "c"
    root.mkdir(mode=0o700)
    cache = cache_mod.ResultCache(root, "salt")
    clock = iter(range(1000))
    monkeypatch.setattr(cache_mod.time, "time", lambda: float(next(clock)))
    for i in range(40):
        cache.put(cache.key("f", str(i), "sha"), {}, os.urandom(25_000).hex())  # 50 kB, not compressible
    cache.flush()
    assert (root / cache_mod.DATABASE).stat().st_size > 2_000_000
    cache_mod.prune(cache._connection(), 1_000_000)
    assert (root / cache_mod.DATABASE).stat().st_size <= 1_000_000
    # the most recently written are kept
    assert cache.get(cache.key("f", "39", "sha"), {}) is not None
    assert cache.get(cache.key("f", "0", "sha"), {}) is None
    cache.close()


def test_concurrent_writers_leave_whole_entries(tmp_path):
    import multiprocessing

    root = tmp_path / "c"
    root.mkdir(mode=0o700)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(root, n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    cache = cache_mod.ResultCache(root, "salt")
    for r in range(50):
        value = cache.get(cache.key("f", str(r), "sha"), {"ns:a": "1"})
        assert value in [(n, "y" * 100_000) for n in range(4)]  # whole, from one writer
    cache.close()


def _writer(root: Path, n: int) -> None:
    cache = cache_mod.ResultCache(root, "salt")
    for r in range(50):
        cache.put(cache.key("f", str(r), "sha"), {"ns:a": "1"}, (n, "y" * 100_000))
        if r % 7 == 0:
            cache.flush()
    cache.close()


def test_large_folders_are_hashed_in_worker_processes(gitops, cli, monkeypatch):
    """A folder of thousands of files has its committed output and its inputs hashed by
    worker processes while render-check reads the rest (WORKER_MIN_FILES, lowered here)."""
    from meshrender.run import parallel

    monkeypatch.setattr(incremental, "WORKER_MIN_FILES", 0)
    monkeypatch.delenv("MESHRENDER_JOBS", raising=False)
    started = []
    real = parallel.Background

    class Recording(real):
        def __init__(self, fn, inline=False):
            started.append(inline)
            super().__init__(fn, inline)

    monkeypatch.setattr(parallel, "Background", Recording)
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    code, out = check(cli)
    assert code == 1 and "changed  deploy/shop/web.yaml" in out
    assert started[:2] == [False, False]  # the committed output, then the inputs
    monkeypatch.setenv("MESHRENDER_JOBS", "1")
    started.clear()
    assert check(cli)[0] == 1 and started and all(started)  # all in this process


@pytest.mark.parametrize("what", ["symlink", "fifo"])
def test_a_hostile_output_folder_is_the_full_checks_error(gitops, cli, what, monkeypatch):
    monkeypatch.setenv("MESHRENDER_CACHE", "on")  # (not verify: the incremental answer alone)
    target = Path("deploy/shop/web.yaml")
    target.unlink()
    if what == "symlink":
        target.symlink_to("/etc/passwd")
    else:
        os.mkfifo(target)
    code, out = check(cli)
    assert code == 2
    assert "deploy/shop/web.yaml" in out and ("is a symlink" in out or "not a regular file" in out)


def test_inputs_over_the_total_limit_are_refused_as_in_a_full_run(gitops, cli, monkeypatch):
    from meshrender.inputs import sources

    monkeypatch.setenv("MESHRENDER_CACHE", "on")  # (not verify: the incremental answer alone)
    total = sum(p.stat().st_size for p in Path("apps").rglob("*.yaml"))
    monkeypatch.setattr(incremental, "MAX_TOTAL_BYTES", total // 2)  # (read while hashing)
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", total // 2)  # (the full run's check)
    code, out = check(cli)
    assert code == 2 and "the inputs together are larger than" in out


def test_a_hashing_worker_that_dies_means_a_full_check(gitops, cli, monkeypatch):
    from meshrender.run import parallel

    if not parallel.can_fork() or parallel.cpu_count() < 2:
        pytest.skip("hashing runs in this process here")
    monkeypatch.setenv("MESHRENDER_CACHE", "on")  # (not verify: the incremental answer alone)
    monkeypatch.delenv("MESHRENDER_JOBS", raising=False)
    monkeypatch.setattr(incremental, "WORKER_MIN_FILES", 0)
    monkeypatch.setattr(incremental, "committed_fingerprints", lambda out_dir, shown: os._exit(9))
    write("apps/shop/web.yaml", deployment("web", "shop", image="nginx:1.27"))
    code, out = check(cli)
    assert code == 1 and "changed  deploy/shop/web.yaml" in out


@pytest.mark.parametrize("out", ["deploy", "apps", "apps/shop", ".", "deploy/x/y", "/"])
def test_marker_names_of_inputs_are_their_paths_from_the_marker(tmp_path, monkeypatch, out):
    """The names the record holds (incremental._From, worked out per folder from its
    parent's) are os.path.relpath's, wherever the output folder is."""
    monkeypatch.chdir(tmp_path)
    paths = ["apps/shop/web.yaml", "apps/shop/a/b/c.yaml", "./apps/x.yaml", "apps/../mesh/g.yaml", "x.yaml",
             "deploy/inside.yaml", "deploy/x/y/z.yaml", f"{tmp_path}/apps/abs.yaml", "../elsewhere/e.yaml",
             "/r.yaml", "//r.yaml", "apps//shop/w.yaml", "apps/shop//w.yaml", "x.yaml"]
    named = incremental._From(Path(out))
    for p in paths:
        folder, name = os.path.split(p)
        rel = Path(os.path.relpath(os.path.normpath(os.path.join(tmp_path, folder)), os.path.abspath(out))).as_posix()
        assert named(p) == (name if rel == "." else f"{rel}/{name}"), p
