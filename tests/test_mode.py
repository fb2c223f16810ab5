"""The contract's native-or-traditional table, first match wins, both flavors."""

import pytest

from meshrender.settings.mode import Cluster, decide, parse_version


def cluster(flavor="asm", kube=None, mesh=None, provider=None, flag="auto"):
    return Cluster(flavor, parse_version(kube), provider, parse_version(mesh), flag)


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
    assert decide({}, None, None, None, None, None, cluster(flavor, kube, mesh, provider)).native is native


def test_first_match_wins():
    c = cluster("asm", "1.30", "1.22", "ack", flag="false")
    assert decide({"sidecar.istio.io/nativeSidecar": "true"}, None, False, None, False, None, c).native
    assert not decide({"sidecar.istio.io/nativeSidecar": "false"}, None, True, None, True, None, c).native
    assert decide({}, None, True, None, False, None, c).native
    assert not decide({}, None, False, None, True, None, c).native
    assert not decide({}, None, None, None, False, None, cluster("asm", "1.30", "1.22", "ack", "true")).native
    assert decide({}, None, None, None, True, None, c).native
    assert not decide({}, None, None, None, None, None, c).native  # the flag says false
    assert decide({}, None, None, None, None, None, cluster("asm", flag="true")).native


def test_reason_says_why():
    d = decide({}, None, None, None, None, None, cluster("istio", "1.30", "1.28"))
    assert "1.33" in d.reason and not d.native
