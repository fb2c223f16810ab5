"""What `meshrender render` would refuse: lint reports it instead of stopping."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.lint.finding import Hit
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
