"""Every kind of bad input we know of, and exactly what the user gets for it.

Each case is rendered twice: to stdout, and with `-o` into a folder that already holds a
previous good render. A refused input must exit 2 with its first message at the expected
FILE:LINE:COL, say what is wrong, print nothing on stdout and leave the previous output
byte for byte as it was (and no staging folder behind). docs/bad-input.md is generated
from this catalog with the messages meshrender actually prints:

    .venv/bin/python -m tests.test_robust_catalog     # rewrite docs/bad-input.md
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, write_files

DOC = ROOT / "docs" / "bad-input.md"

GOOD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"""

SPS = "apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\n"
PROFILE = "apiVersion: meshrender.dev/v1alpha1\nkind: ClusterProfile\n"


LAUGHS = ("kind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
          + "".join(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)))
STRING_BOMB = ("kind: ConfigMap\nmetadata: {name: s}\ndata:\n  a: &a " + "x" * 100_000 + "\n  b: ["
               + ", ".join(["*a"] * 1000) + "]\n")
MERGE_BOMB = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\nx0: &a0 {k0: 1, k1: 2, k2: 3}\n"
              + "".join(f"x{i}: &a{i}\n  <<: [" + ", ".join([f"*a{i - 1}"] * 8) + "]\n" for i in range(1, 16)))


def _leak(repo: Path) -> None:
    secret = repo.parent / "secret.yaml"
    secret.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: ci-token}\n", encoding="utf-8")
    (repo / "leak.yaml").symlink_to(secret)


def _committed(repo: Path, marker: str | None = None, extra: dict | None = None) -> None:
    """The repository as a Git work tree holding a copy of the previous output at `deploy`,
    with its marker (or other files) replaced: the committed output of a hostile pull
    request."""
    import shutil

    (repo / ".git").mkdir(exist_ok=True)
    deploy = repo / "deploy"
    shutil.copytree(repo.parent / "out", deploy, symlinks=True)
    if marker is not None:
        (deploy / ".meshrender-output").write_text(marker, encoding="utf-8")
    for name, target in (extra or {}).items():
        path = deploy / name
        if path.exists() or path.is_symlink():
            path.unlink()
        if target == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to(target)


def _git_leak(repo: Path) -> None:
    (repo / ".git").mkdir()
    (repo / ".git" / "config.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: ci-token}\n")
    (repo / "creds.yaml").symlink_to(".git/config.yaml")


def _many(template: str, n: int) -> str:
    return "".join(template.format(i=i) for i in range(n))


TINY_POD = "---\n{{apiVersion: v1, kind: Pod, metadata: {{name: p{i}}}, spec: {{containers: [{{name: a}}]}}}}\n"
SELECTED = ("---\napiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\nmetadata: {{name: s{i}, "
            "namespace: shop}}\nspec: {{selector: {{matchLabels: {{app: a{i}}}}}}}\n")
KEYS_DOC = ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata:\n"
            + "".join(f"  k{j}: v\n" for j in range(124_000)))
INJECTOR = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n"


def pod(body: str, name: str = "p") -> str:
    """A Pod whose containers section is `body` (indented under spec:)."""
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n" + textwrap.indent(
        textwrap.dedent(body), "  ")


@dataclass
class Case:
    id: str
    what: str  # the kind of bad input, as the docs table names it
    files: dict[str, str | bytes]
    where: tuple[str, int | None, int | None] | None  # file, line, column of the first message (None:
    # the file or folder as a whole, which has no position)
    says: str  # what the message must say
    code: int = 2
    args: tuple[str, ...] = ()
    stdin: str | None = None
    group: str = "YAML"
    warning: bool = False  # exit 0 with a warning at `where`
    setup: Callable[[Path], None] | None = None  # extra preparation of the repo (symlinks, FIFOs)
    argv: tuple[str, ...] | None = None  # the whole command line after the command ({repo} expands)
    command: str = "render"  # render, or diff / render-check (which write nothing: no -o run)


CASES: list[Case] = [
    # -- YAML ---------------------------------------------------------------------------
    Case("syntax", "Syntax error (unclosed bracket)", {"a.yaml": "kind: Pod\nmetadata:\n  name: [x\n"},
         ("a.yaml", 3, 11), "invalid YAML: did not find expected ',' or ']'"),
    Case("tab", "Tab used for indentation", {"a.yaml": "kind: Pod\nmetadata:\n\tname: x\n"},
         ("a.yaml", 3, 1), "tab character"),
    Case("tab-inside", "Tab after spaces in indentation",
         {"a.yaml": "kind: Pod\nmetadata:\n  name: x\n  \tlabels: {}\n"}, ("a.yaml", 4, 3), "tab character"),
    Case("duplicate-key", "Duplicate key", {"a.yaml": GOOD.replace("  namespace: shop\n",
                                                                   "  namespace: shop\n  name: web2\n")},
         ("a.yaml", 6, 3), "duplicate key 'name' (first at line 4)"),
    Case("duplicate-key-later-doc", "Duplicate key in the second document of a file",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n"
                    "data: {x: 1, x: 2}\n"},
         ("a.yaml", 6, 14), "duplicate key 'x' (first at line 6)"),
    Case("not-utf8", "Bytes that are not UTF-8 (Latin-1 file)",
         {"a.yaml": b"kind: ConfigMap\nmetadata: {name: caf\xe9}\n"}, ("a.yaml", 2, 21),
         "not UTF-8: byte 0xe9"),
    Case("utf16", "UTF-16 file", {"a.yaml": "kind: Pod\n".encode("utf-16")}, ("a.yaml", 1, 1),
         "not UTF-8: byte 0xff"),
    Case("control-char", "Control character in a value",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata: {x: a\x07b}\n"}, ("a.yaml", 3, 12),
         "character U+0007 is not allowed"),
    Case("nul-byte", "NUL byte", {"a.yaml": "kind: ConfigMap\nmetadata: {name: a\x00}\n"}, ("a.yaml", 2, 19),
         "character U+0000 is not allowed"),
    Case("undefined-alias", "Alias to an undefined anchor",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata: {x: *nope}\n"}, ("a.yaml", 3, 11),
         "found undefined alias"),
    Case("unknown-tag", "Unknown YAML tag", {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata: !foo {}\n"},
         ("a.yaml", 3, 7), "could not determine a constructor for the tag '!foo'"),
    Case("binary-tag", "YAML type with no JSON equivalent (!!binary, !!set, !!timestamp)",
         {"a.yaml": "kind: Secret\nmetadata: {name: a}\ndata: {x: !!binary aGk=}\n"}, ("a.yaml", 3, 11),
         "the tag !!binary has no JSON equivalent"),
    Case("keys-one-json-key", "Two keys Kubernetes reads as one (`y` and `true`; `1` and `\"1\"`)",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata:\n  true: a\n  y: b\n"}, ("a.yaml", 5, 3),
         "duplicate key 'true', as Kubernetes reads `y` (first at line 4)"),
    Case("keys-random-winner", "A number key and the same number quoted (Kubernetes keeps either, at random)",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata:\n  8080: a\n  \"8080\": b\n"}, ("a.yaml", 5, 3),
         "two keys that Kubernetes reads as the same key '8080' (the other at line 4)"),
    Case("null-key", "Null key (`~:`), which JSON cannot carry",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata:\n  ~: a\n"}, ("a.yaml", 4, 3),
         "the key `~` is null, which Kubernetes cannot make a JSON key of"),
    Case("infinite-float", "Infinite or NaN float (`.inf`, `.nan`), which JSON cannot carry",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\nx: .inf\n"}, ("a.yaml", 3, 4),
         "`.inf` is a float that JSON cannot hold"),
    Case("tag-mismatch", "Explicit tag that does not fit the value (`!!int x`)",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\nx: !!int x\n"}, ("a.yaml", 3, 4),
         "cannot decode !!str `x` as a !!int"),
    Case("huge-int", "Integer with thousands of digits (a string in Kubernetes: Go's float parser overflows)",
         {"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: " + "9" * 5000 + "\n"}, None, "", code=0),
    Case("crlf", "Windows (CR LF) or mixed line endings in a multi-document file",
         {"a.yaml": GOOD.replace("\n", "\r\n") + "---\r\n" + GOOD.replace("web", "api") + "---\n"
                    + "kind: ConfigMap\r\nmetadata: {name: c}\n"}, None, "", code=0),
    Case("line-separator", "Unicode line separator (U+2028) before an error (lines are counted as editors do)",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\ndata: {x: \"a\u2028b\"}\n---\nx: [\n"}, ("a.yaml", 5, 5),
         "invalid YAML: did not find expected node content"),
    Case("empty-file", "Empty file (the only input)", {"a.yaml": ""}, ("{repo}/a.yaml", None, None),
         "no YAML documents in the inputs", argv=("{repo}/a.yaml",)),
    Case("empty-file-among-others", "Empty file next to other files", {"a.yaml": GOOD, "b.yaml": "# nothing\n"},
         ("b.yaml", 1, 1), "file holds no YAML documents", code=0, warning=True),
    Case("empty-documents", "Empty documents between `---`", {"a.yaml": "---\n---\n" + GOOD + "---\n...\n"},
         None, "", code=0),
    Case("empty-stdin", "Empty stdin (the command feeding meshrender failed)", {}, ("-", 1, 1),
         "stdin holds no YAML documents", stdin=""),
    Case("empty-render-stdin", "A render with no documents to output: stdin holding only `null` (`--allow-empty` "
         "accepts it)", {}, ("-", None, None), "the render has no documents to output", stdin="null\n"),
    Case("empty-render-settings", "A render with no documents to output: settings only, or only `--- ~` "
         "(`--allow-empty` accepts it)", {"s.yaml": "--- ~\n---\napiVersion: meshrender.dev/v1alpha1\n"
                                          "kind: SidecarProxySettings\nmetadata: {name: s}\nspec: {}\n"},
         ("{repo}/s.yaml", None, None), "the render has no documents to output", argv=("{repo}/s.yaml",)),
    Case("eof-error", "Unclosed flow sequence at the end of the file (at the end of its last line, the line "
         "kubectl names)", {"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"
                                     "  c: d\n  e: f\nx: [1, 2\n"},
         ("a.yaml", 9, 9), "invalid YAML: did not find expected ',' or ']'"),
    # -- shapes ---------------------------------------------------------------------------
    Case("not-manifests", "A kustomization, a Helm chart's values and Chart.yaml beside the manifests (skipped, "
         "counted in the summary)",
         {"a.yaml": GOOD, "kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "resources: [a.yaml]\n",
          "chart/values.yaml": "replicaCount: 2\nkind: Deployment\nimage: {repository: nginx}\n",
          "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"}, None, "", code=0, group="Shapes"),
    Case("only-not-manifests", "Only files that are not Kubernetes manifests",
         {"values.yaml": "replicaCount: 2\n", "Chart.yaml": "apiVersion: v2\nname: web\n"},
         ("{repo}/values.yaml", None, None),
         "no Kubernetes manifests in the inputs (2 files without apiVersion and kind skipped)",
         group="Shapes", argv=("{repo}/values.yaml", "{repo}/Chart.yaml")),
    Case("doc-list", "Document that is a list, in a file of manifests",
         {"a.yaml": GOOD + "---\n- kind: Pod\n- kind: Service\n"}, ("a.yaml", 15, 1),
         "must be a Kubernetes object (a map with apiVersion and kind), not a list", group="Shapes"),
    Case("doc-scalar", "Document that is a scalar", {"a.yaml": GOOD + "---\njust text\n"}, ("a.yaml", 15, 1),
         'not the string "just text"', group="Shapes"),
    Case("no-kind", "Document without kind, in a file of manifests",
         {"a.yaml": GOOD + "---\napiVersion: v1\nmetadata: {name: a}\n"}, ("a.yaml", 15, 1), "has no kind",
         group="Shapes"),
    Case("kind-not-string", "kind that is not a string", {"a.yaml": "apiVersion: v1\nkind: [Pod]\n"},
         ("a.yaml", 2, 1), "kind: must be a non-empty string, not a list", group="Shapes"),
    Case("metadata-not-map", "metadata that is not a map",
         {"a.yaml": "apiVersion: v1\nkind: Service\nmetadata: web\n"}, ("a.yaml", 3, 1),
         'metadata: Service: must be a map, not the string "web"', group="Shapes"),
    Case("workload-no-metadata", "Workload without metadata",
         {"a.yaml": "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n"}, ("a.yaml", 1, 1),
         "Pod has no metadata.name", group="Shapes"),
    Case("name-not-string", "metadata.name that is a number",
         {"a.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: 42}\nspec: {containers: [{name: a}]}\n"},
         ("a.yaml", 3, 12), 'metadata.name: Pod: must be a string, not a number; quote it: "42"',
         group="Shapes"),
    Case("label-number", "Label value that YAML reads as a number",
         {"a.yaml": GOOD.replace("labels: {app: web}", "labels: {app: web, version: 1.10}")},
         ("a.yaml", 9, 26), "spec.template.metadata.labels.version: Deployment shop/web: must be a string, "
                            'not a decimal number; quote it: "1.10"', group="Shapes"),
    Case("annotation-bool", "Annotation value that YAML reads as a boolean (yes, on, true)",
         {"a.yaml": GOOD.replace("  namespace: shop\n", "  namespace: shop\n  annotations:\n"
                                                        "    sidecar.istio.io/inject: yes\n")},
         ("a.yaml", 7, 5), 'must be a string, not a boolean; quote it: "yes"', group="Shapes"),
    Case("list-items", "List whose items are not a list",
         {"a.yaml": "apiVersion: v1\nkind: List\nitems: {kind: Pod}\n"}, ("a.yaml", 3, 1),
         "items: List: must be a list of objects, not a map", group="Shapes"),
    Case("list-item-scalar", "List item that is not an object",
         {"a.yaml": "apiVersion: v1\nkind: List\nitems:\n- 5\n"}, ("a.yaml", 4, 3),
         "items[0]: must be a Kubernetes object", group="Shapes"),
    Case("containers-not-list", "containers that is not a list", {"a.yaml": pod("containers: {name: a}\n")},
         ("a.yaml", 5, 3), "containers must be a list of containers, not a map", group="Shapes"),
    Case("container-not-map", "Container that is not a map", {"a.yaml": pod("containers: [nginx]\n")},
         ("a.yaml", 5, 16), 'containers[0] must be a container (a map), not the string "nginx"', group="Shapes"),
    Case("container-no-name", "Container without a name", {"a.yaml": pod("containers:\n- image: nginx\n")},
         ("a.yaml", 6, 5), "containers[0] has no name", group="Shapes"),
    Case("ports-map", "ports written as a map",
         {"a.yaml": pod("containers:\n- name: a\n  ports:\n    http: 8080\n")}, ("a.yaml", 7, 5),
         "spec.containers[0].ports: Pod default/p: must be a list, not a map; write each entry as a list item",
         group="Shapes"),
    Case("port-list", "containerPort written as a list",
         {"a.yaml": pod("containers:\n- name: a\n  ports:\n  - containerPort: [8080]\n")}, ("a.yaml", 8, 7),
         "spec.containers[0].ports[0].containerPort: Pod default/p: must be a port number, not a list",
         group="Shapes"),
    Case("env-map", "env written as a map", {"a.yaml": pod("containers:\n- name: a\n  env: {LOG: debug}\n")},
         ("a.yaml", 7, 5), "spec.containers[0].env: Pod default/p: must be a list, not a map; write each entry "
                           "as a list item", group="Shapes"),
    Case("port-word", "containerPort that is not a number (named ports of probes resolve to it)",
         {"a.yaml": pod("containers:\n- name: a\n  ports:\n  - containerPort: http\n")}, ("a.yaml", 8, 7),
         'spec.containers[0].ports[0].containerPort: Pod default/p: must be a port number, not the string "http"',
         group="Shapes"),
    Case("env-number", "env value that YAML reads as a number",
         {"a.yaml": pod("containers:\n- name: a\n  env:\n  - {name: PORT, value: 8080}\n")}, ("a.yaml", 8, 20),
         'spec.containers[0].env[0].value: Pod default/p: must be a string, not a number; quote it: "8080"',
         group="Shapes"),
    Case("env-map", "env value that is a map",
         {"a.yaml": pod("containers:\n- name: a\n  env:\n  - {name: PORT, value: {port: 8080}}\n")},
         ("a.yaml", 8, 20), "spec.containers[0].env[0].value: Pod default/p: must be a string, not a map",
         group="Shapes"),
    Case("scalar-type", "A scalar of the wrong type in a pod (containerPort: \"8080\"): Kubernetes' schema, "
         "checked by `render --validate`", {"a.yaml": pod("containers:\n- name: a\n  ports:\n"
                                                         "  - containerPort: \"8080\"\n")},
         ("a.yaml", 8, 7), "containers[0].ports[0].containerPort: Pod default/p, container a: \"8080\" is not of "
                           "type \"integer\"", args=("--validate", "--kube-version", "1.30", "--flavor", "istio"),
         group="Shapes"),
    Case("probe-port", "Probe port of the wrong type",
         {"a.yaml": pod("containers:\n- name: a\n  readinessProbe:\n    httpGet: {port: [8080]}\n")},
         ("a.yaml", 8, 17), "readinessProbe.httpGet.port: Pod default/p: must be an integer or a name, not a list",
         group="Shapes"),
    Case("template-not-map", "Pod template that is not a map",
         {"a.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template: []\n"},
         ("a.yaml", 5, 3), "spec.template must be a map, not a list", group="Shapes"),
    Case("own-kind-typo", "Unknown kind of meshrender's own API group (a misspelt settings kind)",
         {"a.yaml": "apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySetting\nmetadata: {name: s}\n"},
         ("a.yaml", 2, 1), "kind: SidecarProxySetting is not a kind of the meshrender.dev API group; did you "
         "mean SidecarProxySettings?", group="Shapes"),
    Case("same-object-twice", "The same object (group, kind, namespace, name) in two files",
         {"a.yaml": GOOD, "b.yaml": "# a copy\n" + GOOD}, ("b.yaml", 5, 3),
         "metadata.name: Deployment shop/web is defined twice, here and at {repo}/a.yaml:4:3", group="Shapes"),
    Case("unknown-kind", "Unknown kind (passes through unchanged)",
         {"a.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {any: [thing]}\n"},
         None, "", code=0, group="Shapes"),
    Case("unknown-pod-kind", "Unknown kind that carries a pod template (passes through unchanged, with a warning; "
         "declare it in ClusterProfile.spec.workloadKinds)",
         {"a.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  template:\n"
                    "    spec: {containers: [{name: a, image: a}]}\n"},
         ("a.yaml", 5, 3), "does not know the kind Widget of example.com", code=0, warning=True, group="Shapes"),
    Case("typed-list-item", "Item of a typed list (PodList) without a name",
         {"a.yaml": "apiVersion: v1\nkind: PodList\nitems:\n- spec: {containers: [{name: a, image: a}]}\n"},
         ("a.yaml", 4, 3), "items[0]: Pod has no metadata.name", group="Shapes"),
    # -- settings ---------------------------------------------------------------------------
    Case("sps-no-metadata", "SidecarProxySettings without metadata", {"s.yaml": SPS + "spec: {}\n"},
         ("s.yaml", 1, 1), "metadata: SidecarProxySettings (unnamed): is required", group="Settings"),
    Case("sps-empty-namespace", "SidecarProxySettings with an empty namespace",
         {"s.yaml": SPS + "metadata: {name: s, namespace: \"\"}\nspec: {}\n"}, ("s.yaml", 3, 21),
         "empty metadata.namespace; remove it for global scope or name the namespace", group="Settings"),
    Case("sps-blank-namespace", "SidecarProxySettings with `namespace:` left blank (a template that rendered "
         "nothing; omit the field for global scope)",
         {"s.yaml": SPS + "metadata:\n  name: s\n  namespace:\nspec: {}\n"}, ("s.yaml", 5, 3),
         "empty metadata.namespace; remove it for global scope", group="Settings"),
    Case("sps-unknown-field", "Misspelt settings field",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    resource: {limits: {cpu: 1}}\n"},
         ("s.yaml", 6, 5), "spec.proxy.resource: SidecarProxySettings s: unknown field resource; did you mean "
                           "resources?", group="Settings"),
    Case("sps-bool-string", "Boolean setting written as a string",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  nativeSidecar: \"true\"\n"}, ("s.yaml", 5, 3),
         'spec.nativeSidecar: SidecarProxySettings s: must be true or false, not "true"; remove the quotes',
         group="Settings"),
    Case("sps-quantity", "Resource quantity that is not a quantity",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    resources: {limits: {cpu: 2 cores}}\n"},
         ("s.yaml", 6, 26), "'2 cores' is not a quantity", group="Settings"),
    Case("sps-quantity-huge", "Quantity with an absurd exponent (1e99999999)",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    resources: {limits: {cpu: 1e99999999}}\n"},
         ("s.yaml", 6, 26), "out of range", group="Settings"),
    Case("sps-negative", "Negative resource", {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n"
                                                               "    resources: {requests: {memory: -1Mi}}\n"},
         ("s.yaml", 6, 28), "resources cannot be negative", group="Settings"),
    Case("sps-duration", "Duration without a unit",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    terminationDrainDuration: 10\n"},
         ("s.yaml", 6, 5), "must be a string, not 10 (A duration: 5s, 1m30s, 500ms.)", group="Settings"),
    Case("sps-enum", "Value not among the allowed ones",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    logLevel: verbose\n"}, ("s.yaml", 6, 5),
         '"verbose" is not one of "trace", "debug", "info", "warning", "error", "critical", "off"',
         group="Settings"),
    Case("sps-lifecycle", "Lifecycle handler of the wrong shape",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  proxy:\n    lifecycle: {preStop: {exec: sleep 5}}\n"},
         ("s.yaml", 6, 27), 'spec.proxy.lifecycle.preStop.exec: SidecarProxySettings s: must be a map, '
                            'not "sleep 5"', group="Settings"),
    Case("sps-selector", "Selector label value that is a number",
         {"s.yaml": SPS + "metadata: {name: s}\nspec:\n  selector: {matchLabels: {version: 2}}\n"},
         ("s.yaml", 5, 28), "must be a string, not 2", group="Settings"),
    Case("profile-version", "ClusterProfile version written as a number (1.30 reads as 1.3)",
         {"p.yaml": PROFILE + "metadata: {name: prod}\nspec:\n  kubernetesVersion: 1.30\n"}, ("p.yaml", 5, 3),
         "must be a string, not 1.3 (Quote it: an unquoted 1.30 reads as the number 1.3.)", group="Settings"),
    Case("profile-provider", "Unknown provider",
         {"p.yaml": PROFILE + "metadata: {name: prod}\nspec:\n  provider: aws\n"}, ("p.yaml", 5, 3),
         '"aws" is not one of "ack", "ack-serverless", "acs", "community"', group="Settings"),
    Case("kind-declared-twice", "A workload kind declared twice in ClusterProfile.spec.workloadKinds",
         {"p.yaml": PROFILE + "metadata: {name: prod}\nspec:\n  workloadKinds:\n"
                    "  - {apiVersion: example.com/v1, kind: Widget, template: spec.template}\n"
                    "  - {apiVersion: example.com/v1, kind: Widget, template: spec.pod}\n"}, ("p.yaml", 7, 34),
         "Widget of example.com/v1 is declared twice", group="Settings"),
    Case("kind-without-template", "A declared workload kind without a template path (nor inject: false)",
         {"p.yaml": PROFILE + "metadata: {name: prod}\nspec:\n  workloadKinds:\n"
                    "  - {apiVersion: example.com/v1, kind: Widget}\n"}, ("p.yaml", 6, 34),
         "needs a template path (or inject: false)", group="Settings"),
    Case("asm-mesh-config", "ASMMeshConfig with a string for a boolean",
         {"m.yaml": "apiVersion: istio.alibabacloud.com/v1beta1\nkind: ASMMeshConfig\nmetadata: {name: d}\n"
                    "spec: {enableNativeSidecar: yes please}\n"}, ("m.yaml", 4, 8),
         'must be true or false, not "yes please"', group="Settings"),
    Case("iop-values", "IstioOperator values of the wrong type",
         {"i.yaml": "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: i}\n"
                    "spec:\n  values:\n    global:\n      proxy:\n        privileged: \"false\"\n"},
         ("i.yaml", 8, 9), 'spec.values.global.proxy.privileged: IstioOperator i: must be true or false, not '
                           '"false"; remove the quotes', group="Settings"),
    Case("configmap-mesh-yaml", "Broken YAML inside the istio ConfigMap's mesh",
         {"c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n"
                    "  mesh: |\n    defaultConfig:\n      concurrency: [2\n"},
         ("c.yaml", 7, 22), "data.mesh is not valid YAML", group="Settings"),
    Case("configmap-values-type", "Wrong type inside the injector ConfigMap's values",
         {"c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n"
                    "  values: |\n    global:\n      proxy:\n        statusPort: port\n"},
         ("c.yaml", 8, 9), "data.values.global.proxy.statusPort: ConfigMap istio-sidecar-injector: values: "
                           '"port" is not valid: must be a non-negative integer', group="Settings"),
    Case("proxyconfig", "ProxyConfig with a non-string environment variable",
         {"c.yaml": "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\nmetadata: {name: pc}\n"
                    "spec:\n  environmentVariables: {DEBUG: true}\n"}, ("c.yaml", 5, 26),
         "must be a string, not true", group="Settings"),
    Case("values-file-missing", "--values file that does not exist", {"a.yaml": GOOD}, ("missing.yaml", None, None),
         "cannot read: No such file or directory", args=("--values", "missing.yaml"), group="Settings"),
    Case("values-file-type", "--values file with a wrong type", {"a.yaml": GOOD},
         ("{repo}/../values.yaml", 3, 26), "global.proxy.resources.limits.cpu: values file: \"lots\" is not valid",
         setup=lambda r: _write(r.parent, {"values.yaml": "global:\n  proxy:\n    resources: {limits: {cpu: lots}}\n"}),
         args=("--values", "{repo}/../values.yaml"), group="Settings"),
    Case("injector-selector-int", "Injector selector of the wrong type (`neverInjectSelector: 1` in "
         "data.config)", {"c.yaml": INJECTOR + "  config: |\n    neverInjectSelector: 1\n", "a.yaml": GOOD},
         ("c.yaml", 6, 5), "data.config.neverInjectSelector: ConfigMap istio-sidecar-injector: injector config: "
                           "must be a list, not 1", group="Settings"),
    Case("injector-selector-labels", "Injector selector whose matchLabels is not a map "
         "(`alwaysInjectSelector: [{matchLabels: x}]` in injector values)",
         {"c.yaml": INJECTOR + "  values: |\n    sidecarInjectorWebhook:\n      alwaysInjectSelector: "
                               "[{matchLabels: x}]\n", "a.yaml": GOOD},
         ("c.yaml", 7, 31), "data.values.sidecarInjectorWebhook.alwaysInjectSelector[0].matchLabels: ConfigMap "
                            "istio-sidecar-injector: values: must be a map, not \"x\"", group="Settings"),
    Case("mesh-duration", "Mesh config duration that is not a duration",
         {"c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata:\n  mesh: |\n"
                    "    defaultConfig:\n      terminationDrainDuration: soon\n", "a.yaml": GOOD},
         ("c.yaml", 7, 7), "data.mesh.defaultConfig.terminationDrainDuration: ConfigMap istio: mesh config: "
                           "\"soon\" is not valid", group="Settings"),
    Case("kube-version-flag", "--kube-version that is not a version", {"a.yaml": GOOD}, None,
         "error: --kube-version: Kubernetes version 'latest' is not a version like 1.30",
         args=("--kube-version", "latest"), group="Settings"),
    # -- contradictions ---------------------------------------------------------------------
    Case("two-profiles", "Two ClusterProfiles",
         {"a.yaml": PROFILE + "metadata: {name: prod}\nspec: {}\n",
          "b.yaml": "# staging\n" + PROFILE + "metadata: {name: staging}\nspec: {}\n"},
         ("b.yaml", 3, 1), "a second ClusterProfile (staging); the first, prod, is at {repo}/a.yaml:2:1",
         group="Contradictions"),
    Case("global-disagree", "Two global SidecarProxySettings that disagree on a field",
         {"a.yaml": SPS + "metadata: {name: base}\nspec:\n  proxy: {concurrency: 2}\n",
          "b.yaml": SPS + "metadata: {name: tuned}\nspec:\n  proxy: {concurrency: 4}\n", "w.yaml": GOOD},
         ("b.yaml", 5, 11), "global settings disagree on spec.proxy.concurrency: SidecarProxySettings base "
                            "(global) ({repo}/a.yaml:5:11) sets 2, SidecarProxySettings tuned (global) sets 4",
         group="Contradictions"),
    Case("namespace-disagree", "Two SidecarProxySettings of one namespace that disagree",
         {"a.yaml": SPS + "metadata: {name: a, namespace: shop}\nspec: {dnsProxy: true}\n",
          "b.yaml": SPS + "metadata: {name: b, namespace: shop}\nspec: {dnsProxy: false}\n", "w.yaml": GOOD},
         ("b.yaml", 4, 8), "namespace shop settings disagree on spec.dnsProxy", group="Contradictions"),
    Case("same-name-twice", "One SidecarProxySettings defined twice",
         {"a.yaml": SPS + "metadata: {name: s, namespace: shop}\nspec: {}\n",
          "b.yaml": SPS + "metadata: {name: s, namespace: shop}\nspec: {}\n"},
         ("b.yaml", 3, 12), "SidecarProxySettings shop/s is defined twice; the first is at {repo}/a.yaml:3:12",
         group="Contradictions"),
    Case("selector-matches-nothing", "Selector that matches no workload",
         {"a.yaml": GOOD, "s.yaml": SPS + "metadata: {name: s}\nspec:\n  selector: {matchLabels: {app: api}}\n"},
         ("s.yaml", 5, 3), "SidecarProxySettings s: selector matches no workload", code=0, warning=True,
         group="Contradictions"),
    # -- hostile ----------------------------------------------------------------------------
    Case("billion-laughs", "Alias expansion bomb (billion laughs)", {"a.yaml": LAUGHS}, ("a.yaml", 1, 1),
         "document expands to more than 2000000 nodes through anchors and aliases", group="Hostile"),
    Case("string-bomb", "One long string aliased thousands of times", {"a.yaml": STRING_BOMB}, ("a.yaml", 1, 1),
         "expands to more than 67108864 characters", group="Hostile"),
    Case("merge-bomb", "Merge keys (`<<`) nested to blow up", {"a.yaml": MERGE_BOMB}, None, "", code=0,
         group="Hostile"),
    Case("self-alias", "Anchor that contains itself", {"a.yaml": "kind: ConfigMap\nmetadata: {name: a}\n"
                                                                "data: &a {x: [*a]}\n"},
         ("a.yaml", 3, 7), "an anchor's value contains itself", group="Hostile"),
    Case("deep-flow", "100,000 nested brackets", {"a.yaml": "a: " + "[" * 100_000 + "\n"}, ("a.yaml", 1, 203),
         "document nests deeper than 200 levels", group="Hostile"),
    Case("deep-block", "1,000 nested block mappings",
         {"a.yaml": "".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "b: 1\n"},
         ("a.yaml", 201, 201), "document nests deeper than 200 levels", group="Hostile"),
    Case("huge-file", "File larger than 16 MiB", {"a.yaml": b"# " + b"x" * (16 * 1024 * 1024) + b"\n"},
         ("a.yaml", 1, 1), "file is larger than 16 MiB", group="Hostile"),
    Case("huge-quantity", "Quantity annotation 1e99999999 (would take hours to compute exactly)",
         {"a.yaml": pod("containers: [{name: a}]\n").replace(
             "metadata: {name: p}", 'metadata: {name: p, annotations: {sidecar.istio.io/proxyCPU: "1e99999999"}}')},
         ("a.yaml", 3, 35), "'1e99999999' is out of range", group="Hostile"),
    Case("node-limit", "One document of more than 250,000 nodes, with no anchors (`x: [1,1,...]`)",
         {"a.yaml": "kind: ConfigMap\nmetadata: {name: x}\nx: [" + "1," * 250_001 + "1]\n"}, ("a.yaml", 3, 499_987),
         "document has more than 250,000 nodes (maps, lists and values); meshrender reads at most 250,000 in one "
         "document", group="Hostile"),
    Case("file-node-limit", "A file of more than 2,000,000 nodes",
         {"a.yaml": _many(KEYS_DOC, 9)}, ("a.yaml", 992_041, 1), "file has more than 2,000,000 nodes",
         group="Hostile"),
    Case("file-workload-limit", "A file of more than 5,000 workloads", {"a.yaml": _many(TINY_POD, 5_001)},
         ("a.yaml", 10_001, 1), "file holds more than 5,000 workloads", group="Hostile"),
    Case("settings-limit", "More than 10,000 settings documents in one run", {"s.yaml": _many(SELECTED, 10_001)},
         ("s.yaml", 50_001, 1), "the inputs hold more settings than meshrender reads in one run", group="Hostile"),
    Case("name-escapes", "A file name that would start a workflow command and hold an escape sequence",
         {"::warning file=x::pwn\x1b[2J.yaml": "kind: [\n"}, ("::warning file=x::pwn\\x1b[2J.yaml", 1, 8),
         "invalid YAML", group="Hostile"),
    # -- filesystem -------------------------------------------------------------------------
    Case("symlink-outside", "Symlink that leaves the repository (not followed)", {"a.yaml": GOOD},
         ("leak.yaml", 1, 1), "not following symlink", code=0, warning=True, setup=lambda r: _leak(r),
         group="Filesystem"),
    Case("symlink-loop", "Symlink loop (each folder is read once)", {"a.yaml": GOOD}, None, "", code=0,
         setup=lambda r: (r / "loop").symlink_to(r, target_is_directory=True), group="Filesystem"),
    Case("fifo", "FIFO named like a manifest", {"a.yaml": GOOD}, ("pipe.yaml", None, None),
         "not a regular file", setup=lambda r: os.mkfifo(r / "pipe.yaml"), group="Filesystem"),
    Case("output-inside-input", "Output folder inside the input folder", {}, ("{repo}", None, None),
         "is inside the input folder", argv=("{repo}", "-o", "{repo}/rendered"), group="Filesystem"),
    Case("output-is-input", "Output folder equal to the input folder", {}, ("{repo}", None, None),
         "is inside the input folder", argv=("{repo}", "-o", "{repo}"), group="Filesystem"),
    Case("input-inside-output", "Input inside the output folder (the swap would delete it)", {},
         ("{repo}", None, None), "is inside the output folder", argv=("{repo}", "-o", "{repo}/.."), group="Filesystem"),
    Case("output-foreign", "Output folder holding files meshrender did not write", {},
         ("{repo}/../foreign", None, None), "already holds files that meshrender did not write",
         setup=lambda r: _write(r.parent, {"foreign/notes.txt": "mine"}), argv=("{repo}", "-o", "{repo}/../foreign"),
         group="Filesystem"),
    Case("output-collision", "Two inputs that would be written to one output path",
         {"a/x.yaml": GOOD, "b/x.yaml": GOOD.replace("name: web", "name: api")}, ("{repo}/b/x.yaml", 1, 1),
         "would both be written to x.yaml", argv=("{repo}/a", "{repo}/b", "-o", "{repo}/../out"),
         group="Filesystem"),
    Case("missing-path", "Input path that does not exist", {}, ("{repo}/nope", None, None), "no such file or folder",
         argv=("{repo}/nope",), group="Filesystem"),
    Case("device-argument", "A device or FIFO named on the command line (`/dev/zero`)", {}, ("/dev/zero", None, None),
         "not a regular file (a FIFO, socket or device)", argv=("/dev/zero",), group="Filesystem"),
    Case("symlink-git", "Symlink into the repository's .git folder (not followed: it may hold the CI token)",
         {"a.yaml": GOOD}, ("creds.yaml", 1, 1), "it leads into the repository's .git folder", code=0, warning=True,
         setup=_git_leak, group="Filesystem"),
    Case("symlink-to-output", "Symlink in the inputs that leads to the output folder (`apps/prev -> ../deploy`)",
         {"a.yaml": GOOD}, ("{repo}/prev", None, None), "is reached from the input folder {repo} through the "
         "symlink {repo}/prev", setup=lambda r: (r / "prev").symlink_to("../out", target_is_directory=True),
         argv=("{repo}", "-o", "{repo}/../out"), group="Filesystem"),
    # -- committed output (diff, the render-check pre-commit hook) --------------------------
    Case("marker-outside", "Output marker naming a file outside the repository (`paths: [../../../etc/passwd]`)",
         {}, ("{repo}/deploy/.meshrender-output", 2, 11), "is not a path render-check may read: it leads outside "
         "the repository", setup=lambda r: _committed(r, "render:\n  paths: [../../../../../../../etc/passwd]\n"),
         command="render-check", argv=("--against", "{repo}/deploy"), group="Committed output"),
    Case("marker-git", "Output marker naming a file in .git", {},
         ("{repo}/deploy/.meshrender-output", 2, 11), "it leads into the repository's .git folder",
         setup=lambda r: _committed(r, "render:\n  paths: [../.git/config]\n"),
         command="render-check", argv=("--against", "{repo}/deploy"), group="Committed output"),
    Case("marker-option", "Output marker holding an option meshrender does not record", {},
         ("{repo}/deploy/.meshrender-output", 3, 3), "unknown option 'output'",
         setup=lambda r: _committed(r, "render:\n  paths: [../repo]\n  output: /etc\n"),
         command="render-check", argv=("--against", "{repo}/deploy"), group="Committed output"),
    Case("marker-symlink", "Output marker that is a symlink (to /dev/zero)", {},
         ("{repo}/deploy/.meshrender-output", None, None), "is a symlink",
         setup=lambda r: _committed(r, extra={".meshrender-output": "/dev/zero"}),
         command="render-check", argv=("--against", "{repo}/deploy"), group="Committed output"),
    Case("committed-symlink", "Committed output file that is a symlink (to /dev/zero): diff and render-check",
         {}, ("{repo}/deploy/base.yaml", None, None), "is a symlink; `render -o` writes only regular files",
         setup=lambda r: _committed(r, extra={"base.yaml": "/dev/zero"}),
         command="diff", argv=("{repo}/base.yaml", "--against", "{repo}/deploy"), group="Committed output"),
    Case("committed-fifo", "Committed output file that is a FIFO: diff and render-check", {},
         ("{repo}/deploy/base.yaml", None, None), "not a regular file",
         setup=lambda r: _committed(r, extra={"base.yaml": "fifo"}),
         command="diff", argv=("{repo}/base.yaml", "--against", "{repo}/deploy"), group="Committed output"),
]


_write = write_files


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _args(case: Case, repo: Path) -> list[str]:
    if case.argv is not None:
        return [case.command, *(a.replace("{repo}", str(repo)) for a in case.argv)]
    args = [a.replace("{repo}", str(repo)) for a in case.args]
    if case.stdin is not None:
        return ["render", "-", *args]
    return ["render", str(repo), *args]


def _where(case: Case, repo: Path) -> str:
    file, line, col = case.where
    if "{repo}" in file:
        shown = file.replace("{repo}", str(repo))
    elif file == "-" or file in case.args:
        shown = file
    else:
        shown = str(repo / file)
    return shown if line is None else f"{shown}:{line}:{col}"


def _first(err: str, severity: str) -> str:
    return next((ln for ln in err.splitlines() if f" {severity}: " in ln), "")


def render_case(case: Case, tmp: Path) -> tuple[object, object, dict, dict]:
    """(stdout run, -o run or None, output before, output after) for one case."""
    repo, out = tmp / "repo", tmp / "out"
    _write(repo, {"base.yaml": GOOD.replace("name: web\n", "name: base\n", 1)})
    first = run_cli("render", str(repo), "-o", str(out))
    assert first.code == 0, first.err
    before = _snapshot(out)
    _write(repo, case.files)
    if case.setup:
        case.setup(repo)
    args = _args(case, repo)
    plain = run_cli(*args, stdin=case.stdin)
    with_out = None if case.argv is not None else run_cli(*args, "-o", str(out), stdin=case.stdin)
    return plain, with_out, before, _snapshot(out)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain, with_out, before, after = render_case(case, tmp_path)
    repo = tmp_path / "repo"
    for r in (plain, with_out):
        if r is None:
            continue
        assert r.code == case.code, r.err
        assert "Traceback" not in r.err and "internal error" not in r.err
        if case.code == 2:
            line = _first(r.err, "error")
            if case.where:
                assert line.startswith(f"meshrender: {_where(case, repo)}: error: "), r.err
            assert case.says.replace("{repo}", str(repo)) in line, r.err
        elif case.warning:
            line = _first(r.err, "warning")
            assert line.startswith(f"{_where(case, repo)}: warning: "), r.err
            assert case.says in line, r.err
    if case.code == 2:
        assert plain.out == ""
        assert after == before, "a refused render changed the previous output"
    elif with_out is not None:
        assert after != before, "a successful render did not replace the output"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert leftovers == [], f"staging folders left behind: {leftovers}"


# -- docs/bad-input.md ---------------------------------------------------------------------

HEADER = """# Bad input: what meshrender says

meshrender runs unattended (pre-commit, CI, the Argo CD plugin), so every input it cannot
use stops the run with **exit status 2** and one message naming the file, line, column
and field, and what to do; nothing is written (an existing output folder is left byte
for byte as it was). The table lists every kind of bad input the test suite tries
(`tests/test_robust_catalog.py`, which also generates this file) and the message
meshrender actually prints for it. Hostile input, filesystem problems and the limits
are further down. Values that are well-formed but wrong for the mesh (a port above 65535
in a settings list, a malformed CIDR, a request above its limit) render, and
`meshrender lint` reports them as findings with every workload they affect; scalar
types in pods that injection does not depend on (`containerPort: "8080"`) are checked
against the Kubernetes schema by `render --validate`.

Regenerate after changing a message: `.venv/bin/python -m tests.test_robust_catalog`.
"""


FOOTER = """
## Writing the output

With `-o DIR`, meshrender writes every file into a staging folder next to DIR and swaps
it in only when all of them are written (on Linux with one atomic `renameat2` exchange,
so DIR never goes missing). On any failure the previous DIR is left exactly as it was and
the staging folder is removed. From the swap until the previous copy is removed, signals
are held, so a run never stops half way and always says which way it ended. DIR keeps its
mode. A run killed outright leaves its staging folder behind; the next run into DIR
removes it (a folder a running render holds a lock on is left alone, and so is anything
without meshrender's marker):

{output_rows}

Input files are only ever opened for reading (`tests/test_robust_fs.py` audits every
`open` and rename of a run).

## What a repository can make meshrender read

A repository is untrusted (the Argo CD plugin renders whatever a branch holds; the
pre-commit hook and CI run on pull requests), so:

- every file read comes from the command line or lies inside the repository of a folder
  named there (the Git work tree; outside Git, the folder itself) once symlinks are
  resolved, and never inside its `.git` folder, which may hold the CI token;
- only regular files are read, each within the file size limit: inputs, settings,
  `--values` and `--mesh-config` files, the `.meshrender-output` marker and committed
  output alike (a FIFO is refused before it can block, a device before it can stream);
- a marker names only paths inside the repository that holds it (relative, no `..`
  out of it; outside Git, the repository is the folder `render-check` runs in) and only
  options meshrender records, with values of their type;
- names, keys and values from the repository are printed escaped in every text format
  (lint's text and github formats, diff, render-check, explain, messages): a line break,
  an escape sequence or a direction override shows as `\\n`, `\\x1b`, `\\u202e`, and a file
  name never starts a line with `::` (a GitHub Actions workflow command);
- a render with no documents to output is exit 2, with or without `-o` (`--allow-empty`
  accepts it; `--fail-empty` is still accepted and changes nothing).

`tests/test_robust_hostile_repo.py` builds each of these repositories and checks, under
`strace -f` (or a Python audit hook where strace cannot run), that nothing outside the
repository and the output is opened or written.

## Limits

Every bound is in `render/limits.py`. Each is far above what real manifests need; input
beyond it is refused with exit 2 and the message above, in bounded time and memory.

| Limit | Value | Why |
|---|---|---|
| One input file | 16 MiB | Kubernetes objects are at most 1.5 MiB |
| All inputs of one run | 64 MiB | every file is read twice; settings are held for the whole run |
| Nodes of one document (maps, lists, values, keys) | 250,000 | memory goes by node: `[1,1,...]` has one every 2 bytes |
| Nodes of one file, aliases counted in full | 2,000,000 | a file's documents are held together (13 bytes a node) |
| Workloads of one file | 5,000 | each is held with its injected pod until the file is done |
| Settings documents of one run | 10,000 (and 1,000,000 nodes) | they are held for the whole run |
| Nesting depth | 200 levels | manifests nest about 15 deep (CRD schemas about 60) |
| Nodes after expanding aliases, one document | 2,000,000 | refuses "billion laughs" before anything walks the data |
| Characters after expanding aliases | 64 MiB | refuses one long string aliased many times |
| Quantity exponent | 40 | `1e99999999` would take hours to compute exactly |
| Duration | 2^63-1 ns (292 years) | Go's `time.Duration`, which Istio parses into |

Memory and time grow linearly with an input's size and stop at these limits. **Memory
budget: 512 MiB a process** (`PROCESS_MEMORY`, the Argo CD sidecar's limit) for any input
within the limits. The worst shapes found peak at 324 MB; `tests/test_robust_hostile_repo.py`
runs them under `RLIMIT_AS` = 512 MiB. Files are rendered one after another in each
process, so a run needs one process's budget per worker: meshrender starts no more
workers than its memory limit holds at 512 MiB each (the cgroup's `memory.max`, or
`MESHRENDER_MEMORY_LIMIT`), so the Argo CD sidecar (512Mi) renders in one process.
Locating findings (each map of a document is indexed once) and matching selectors (filed
by their rarest term) are linear too: 40,000 unknown annotations in one Pod lint in
13 s (103 s before), 6,000 selector settings by 6,000 pods render in 22 s (84 s).

Measured with `fuzz/measure_limits.py` (2 shared cores; each input in its own process,
one process for the run, as in the Argo CD sidecar; baseline: rendering the demo
repository, 0.29 s and 30 MB):

| Input | Exit | Time | Peak RSS |
|---|---|---|---|
| 1,000 Deployments in one file | 0 | 0.7 s | 47 MB |
| Billion laughs (10^9 nodes) | 2 | 0.2 s | 22 MB |
| Merge-key bomb (8^29 merges) | 0 | 0.2 s | 22 MB |
| 1 MB string aliased 100,000 times | 2 | 0.5 s | 29 MB |
| 100,000 nested brackets | 2 | 0.2 s | 24 MB |
| 2,000 nested block mappings | 2 | 0.5 s | 35 MB |
| Integer of 5,000 digits (a string, as in Kubernetes) | 0 | 0.3 s | 21 MB |
| File of 17 MiB (over the limit) | 2 | 0.2 s | 53 MB |
| 15 MiB of `x: [1,1,...]` (over the node limit; was 49 s and 3.1 GB) | 2 | 0.8 s | 71 MB |
| ConfigMap of 15 MiB (one string) | 0 | 0.6 s | 119 MB |
| 15 MiB of small documents (over the file's node limit) | 2 | 11 s | 332 MB |
| Empty maps `[{},{},...]` at the file's node limit (worst memory a node) | 0 | 13 s | 285 MB |
| One-line integer lists at the file's node limit | 0 | 7.0 s | 118 MB |
| Small flow maps at the file's node limit (worst time a node) | 0 | 16 s | 250 MB |
| Pods at the file's workload limit | 0 | 1.6 s | 115 MB |
| 10,000 settings, 5,000 pods each selected by one (a configuration each) | 0 | 20 s | 324 MB |
| Aliased containers at the file's node limit | 0 | 2.0 s | 115 MB |
| Four files of small flow maps at the node limit (18 MB) | 0 | 91 s | 270 MB |

So the ceiling: about 25 s and 330 MB for one file at the limits, and for a whole run at
the 64 MiB limit, one such file's time for every 4.5 MB of its inputs (some six minutes in
one process) in the same memory.

## Fuzzing

`fuzz/fuzz_cli.py` feeds mutated and generated YAML (from `fixtures/` and Istio's
corpus) through `render`, `lint`, `diff` and `render-check` in-process, a third of it in
repositories with hostile file-system shapes (symlinks out of the repository, into .git,
to /dev/zero and back into themselves, FIFOs, folders 1,200 deep, hostile file names,
hostile output markers and committed output, a token beside the repository), and fails
on any exit status other than 0, 1 or 2, a traceback, an input that takes more than 10 s,
an exit 2 without a `FILE:LINE:COL` (or, for a file as a whole, `FILE`) message naming a
line that exists, the token in any output, or output a terminal or CI log would obey (a
line starting with `::`, an escape sequence). Its findings are regression tests in
`tests/test_robust_regressions.py`. `make test` runs a short, fixed-seed session; run it
for longer with `.venv/bin/python fuzz/fuzz_cli.py --minutes 15` (see fuzz/README.md).
"""


OUTPUT_ROWS = [
    ("What happens", "Exit", "What meshrender prints"),
    ("Disk full / a file cannot be written", "2",
     "`meshrender: out/apps/web.yaml:1:1: error: cannot write output: No space left on device; "
     "the previous output is unchanged`"),
    ("Output folder cannot be created (permissions)", "2",
     "`meshrender: out: error: cannot create the output folder: Permission denied`"),
    ("A previous output this user cannot remove (a folder in it is not writable)", "2",
     "`meshrender: out: error: cannot replace the output folder: out/sub is not writable by this user (mode "
     "0555), so its previous copy could not be removed; make it writable (chmod -R u+w) or choose another folder`"),
    ("Ctrl-C, or SIGTERM / SIGHUP (a CI timeout) while writing", "2",
     "`meshrender: interrupted by SIGTERM; no output was changed`"),
    ("Ctrl-C, SIGTERM or SIGHUP just after the swap", "2",
     "`meshrender: interrupted by SIGTERM after the new output was swapped in; out holds the complete new output "
     "and the previous copy was removed`"),
    ("SIGKILL while writing", "killed",
     "the previous output is intact; the next run into DIR removes the hidden `.DIR.tmp-*` folder left next to it "
     "and says `meshrender: removed 1 staging folder(s) that an interrupted run left next to DIR`"),
    ("Standard output on a full disk (`> /dev/full`)", "2",
     "`meshrender: error: cannot write to standard output: No space left on device; the output is incomplete`"),
    ("Standard output closed (`>&-`)", "2",
     "`meshrender: error: standard output is closed, so the output cannot be printed; redirect it to a file, or "
     "write a folder with -o`"),
    ("Standard output a pipe whose reader stopped (`\\| head -1`)", "2",
     "`meshrender: error: standard output was closed before all of the output was written (the command reading "
     "it stopped early); the output is incomplete`"),
    ("A folder tree 1,500 levels deep", "0", "(renders, writes and checks it; no recursion)"),
]


def _table(rows: list[tuple[str, ...]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _shown(case: Case, tmp: Path) -> tuple[int, str]:
    plain, _, _, _ = render_case(case, tmp)
    repo = tmp / "repo"
    if case.code == 2:
        line = _first(plain.err, "error")
    elif case.warning:
        line = _first(plain.err, "warning")
    else:
        line = "(renders; exit 0)" if not plain.err.strip() else _first(plain.err, "warning") or "(renders)"
    line = line.replace(str(repo) + "/", "").replace(str(repo), "repo").replace(str(tmp) + "/", "")
    line = line.replace(str(tmp), ".")
    return plain.code, line


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def generate_doc(tmp: Path) -> str:
    parts = [HEADER]
    group = None
    for i, case in enumerate(CASES):
        if case.group != group:
            group = case.group
            parts.append(f"\n## {group}\n\n| Bad input | Exit | What meshrender prints |\n|---|---|---|\n")
        d = tmp / f"c{i}"
        d.mkdir()
        import os

        cwd = os.getcwd()
        os.chdir(d)
        try:
            code, line = _shown(case, d)
        finally:
            os.chdir(cwd)
        parts.append(f"| {_cell(case.what)} | {code} | `{_cell(line)}` |\n")
    parts.append(FOOTER.replace("{output_rows}", _table(OUTPUT_ROWS)))
    return "".join(parts)


def test_docs_table_is_current(tmp_path):
    want = generate_doc(tmp_path)
    assert DOC.exists() and DOC.read_text(encoding="utf-8") == want, (
        "docs/bad-input.md is out of date: run `.venv/bin/python -m tests.test_robust_catalog`")


def _main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        text = generate_doc(Path(d))
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
