"""The contract's native-or-traditional table, first match wins, both flavors."""

import pytest

from meshrender.settings.layers import Layer, Tree
from meshrender.settings.mode import Cluster, decide, parse_version
from meshrender.settings.provenance import Origin


def cluster(flavor="asm", kube=None, mesh=None, provider=None, flag="auto"):
    return Cluster(flavor, parse_version(kube), provider, parse_version(mesh), flag)


def settings(native):
    """The settings tree, with nativeSidecar set by a SidecarProxySettings (or not at all)."""
    tree = Tree()
    if native is not None:
        tree.apply(Layer("SidecarProxySettings s (global)", {"native": native}, kind="SidecarProxySettings"))
    return tree


ASM = Origin("ASMMeshConfig", "ASMMeshConfig default")


def native(annotations, settings_native, asm_native, c):
    return decide(annotations, None, settings(settings_native), asm_native, ASM, c).value


@pytest.mark.parametrize(("flavor", "kube", "mesh", "provider", "native"), [
    ("asm", "1.30", "1.22", "ack", True),
    ("asm", "1.29", "1.22", "ack", False),
    ("asm", "1.30", "1.22", "ack-serverless", True),
    ("asm", "1.30", "1.22", "acs", True),
    ("asm", "1.29", "1.22", "community", True),
    ("asm", "1.28", "1.22", "community", False),
    ("asm", "1.30", "1.21", "ack", False),
    ("asm", "v1.31.2", "v1.22.2.35-ge64ec8af-aliyun", "ack", True),
    ("asm", None, "1.22", "ack", False),
    ("asm", "1.30", None, "ack", False),
    ("istio", "1.33", "1.27", None, True),
    ("istio", "1.32", "1.27", None, False),
    ("istio", "1.33", "1.26", None, False),
    ("istio", "1.34.1+k3s1", "1.28.0", None, True),
    ("istio", None, None, None, False),
])
def test_auto_rules(flavor, kube, mesh, provider, native):
    assert decide({}, None, settings(None), None, None, cluster(flavor, kube, mesh, provider)).value is native


def test_first_match_wins():
    c = cluster("asm", "1.30", "1.22", "ack", flag="false")
    assert native({"sidecar.istio.io/nativeSidecar": "true"}, False, False, c)
    assert not native({"sidecar.istio.io/nativeSidecar": "false"}, True, True, c)
    assert native({}, True, False, c)
    assert not native({}, False, True, c)
    assert not native({}, None, False, cluster("asm", "1.30", "1.22", "ack", "true"))
    assert native({}, None, True, c)
    assert not native({}, None, None, c)  # the flag says false
    assert native({}, None, None, cluster("asm", flag="true"))


def test_each_rule_says_which_it_is_and_what_it_overrode():
    c = cluster("asm", "1.30", "1.22", "ack", flag="false")
    by_annotation = decide({"sidecar.istio.io/nativeSidecar": "true"}, None, settings(False), None, None, c)
    assert by_annotation.rule == 1 and by_annotation.origin.kind == "annotation"
    assert [s.value for s in by_annotation.overridden] == [False]  # the settings it overrode
    assert decide({}, None, settings(True), None, None, c).rule == 2
    assert decide({}, None, settings(None), True, ASM, c).rule == 3
    flag = decide({}, None, settings(None), None, None, c)
    assert flag.rule == 4 and flag.reason == "--native-sidecars false (cluster-wide setting)"
    assert decide({}, None, settings(None), None, None, cluster("asm", "1.30", "1.22")).rule == 5


def test_reason_says_why():
    d = decide({}, None, settings(None), None, None, cluster("istio", "1.30", "1.28"))
    assert "1.33" in d.reason and not d.value
