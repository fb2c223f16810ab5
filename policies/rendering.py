"""What `meshrender render` would refuse: lint reports it instead of stopping."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.inputs.identity import describe
from meshrender.lint.finding import Hit, Subject
from meshrender.lint.model import LintModel, WorkloadView
from meshrender.lint.rules import run_rule
from meshrender.settings.provenance import Place


def _refused_workload(view: WorkloadView) -> Iterator[Hit]:
    e = view.error
    if e is not None:
        where = Place(location=e.location) if e.location else view.at_meta()
        message = e.message.removeprefix(f"{view.display}: ")  # the finding names the workload
        yield Hit(f"meshrender render refuses this: {message}", where, view.subject)


@run_rule(
    "render-error", "error",
    title="meshrender render refuses this input",
    rationale="""meshrender render stops on this input (exit status 2): a settings conflict within one
    scope, a workload whose structure holds no pod, an injection template that cannot be rendered.
    lint reports it and goes on checking everything else.""",
    fix="Fix the field the message names; `meshrender render` shows the same error.",
    each=_refused_workload,
)
def render_error(model: LintModel) -> Iterator[Hit]:
    for p in model.problems:
        if p.kind == "render":
            yield Hit(f"meshrender render refuses this: {p.message}", p.place, model.subject_of(p))


@run_rule(
    "pod-template-not-injected", "warning",
    title="A pod template that meshrender does not inject",
    rationale="""A document carries a pod template that meshrender leaves as it is: its kind is not
    one meshrender knows (a CRD whose controller creates pods, such as a Knative Service or a
    Kubeflow job), or it takes its template from another object (an Argo Rollout with
    spec.workloadRef). The cluster's webhook may inject those pods all the same, with the cluster's
    settings rather than this repository's, and nothing in the rendered output shows it.""",
    fix="""Declare the kind and its template path in ClusterProfile.spec.workloadKinds (or with
    inject: false when its pods are not meshrender's to inject); for a workloadRef, keep the
    referenced Deployment among the inputs.""",
)
def pod_template_not_injected(model: LintModel) -> Iterator[Hit]:
    for p in model.problems:
        if p.kind == "not-injected":
            yield Hit(p.message, p.place, model.subject_of(p))


@run_rule(
    "duplicate-object", "warning",
    title="The same object is defined twice",
    rationale="""Two documents among the inputs have the same API group, kind, namespace and name (a
    manifest copied to another folder, a List item repeated). Kubernetes keeps one object per name,
    the one applied last, so one of them silently does nothing; Argo CD refuses such an
    application, and meshrender render stops (exit 2). A document without metadata.namespace is in
    the namespace the run renders for (-n). Each folder written by render -o is an application of
    its own: its objects are not duplicates of the sources they were rendered from, nor of another
    environment's output. A warning, not an error, because a repository linted whole may hold
    one folder per cluster with the same objects in each.""",
    fix="""Remove one of the two documents, or give it another name or namespace; for folders that are
    separate applications (one per cluster or environment), lint them separately or ignore this rule
    for them in .meshrender.yaml (lint.ignore with paths).""",
)
def duplicate_object(model: LintModel) -> Iterator[Hit]:
    for d in model.duplicates:
        yield Hit(d.reason, Place(location=d.again), Subject(describe(d.key)))
