"""Rules are discovered from policies/: adding one is adding a module (with its own data file)."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pytest

from meshrender.lint import rules

POLICIES = importlib.import_module(rules.POLICIES)

RULE_MODULE = '''
"""A rule family added the way issue 5 adds output-schema-invalid: one module, its own data."""

from meshrender.lint.finding import Hit
from meshrender.lint.rules import catalog, workload_rule


@workload_rule(
    "image-not-pinned", "warning",
    title="An app image is not pinned to a digest",
    rationale="Tags move; a rendered manifest should say exactly what runs.",
    fix="Pin the image by digest.",
)
def image_not_pinned(view):
    allowed = set(catalog("pinning.json")["registries"])
    for i, c in view.containers():
        image = c.get("image", "")
        if "@sha256:" not in image and image.split("/")[0] not in allowed:
            yield Hit(f"image {image} is not pinned", view.at_spec("containers", i, "image"))
'''


@pytest.fixture
def extra_policy(tmp_path, monkeypatch):
    folder = tmp_path / "extra_policies"
    folder.mkdir()
    (folder / "pinning.py").write_text(textwrap.dedent(RULE_MODULE), encoding="utf-8")
    (folder / "pinning.json").write_text(json.dumps({"registries": ["registry.internal"]}), encoding="utf-8")
    monkeypatch.setattr(POLICIES, "__path__", [*POLICIES.__path__, str(folder)])
    rules.all_rules.cache_clear()
    rules.rule_ids.cache_clear()
    rules.catalog.cache_clear()
    yield
    sys.modules.pop("meshrender.policies.pinning", None)
    rules.all_rules.cache_clear()
    rules.rule_ids.cache_clear()
    rules.catalog.cache_clear()


def test_a_new_module_in_policies_is_a_new_rule(extra_policy, cli, tmp_path):
    assert "image-not-pinned" in rules.rule_ids()
    listed = json.loads(cli("lint", "--list-rules", "--format", "json").out)
    assert {"id": "image-not-pinned", "severity": "warning", "family": "pinning",
            "title": "An app image is not pinned to a digest",
            "rationale": "Tags move; a rendered manifest should say exactly what runs.",
            "fix": "Pin the image by digest.", "autofix": None} in listed
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers:\n"
                   "    - name: a\n      image: registry.internal/a:1\n"
                   "    - name: b\n      image: docker.io/b:latest\n", encoding="utf-8")
    doc = json.loads(cli("lint", str(app), "--format", "json", "--fail-on", "warning").out)
    assert [(f["rule"], f["line"], f["column"]) for f in doc["findings"]] == [("image-not-pinned", 9, 7)]


def test_rule_ids_are_unique_and_every_rule_is_documented():
    found = rules.all_rules()
    assert len({r.id for r in found}) == len(found) >= 16
    for r in found:
        assert r.title and r.rationale and r.fix and r.scope in ("workload", "run")
        assert r.id == r.id.lower() and " " not in r.id
