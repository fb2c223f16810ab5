"""Strategic merge patch: the order and merge rules the injected pod depends on."""

from meshrender.inject.smp import merge_pod


def names(items):
    return [i["name"] for i in items]


def test_new_patch_items_come_before_original_only_items():
    pod = {"spec": {"containers": [{"name": "app", "image": "a"}]}}
    out = merge_pod(pod, {"spec": {"containers": [{"name": "istio-proxy", "image": "p"}]}})
    assert names(out["spec"]["containers"]) == ["istio-proxy", "app"]


def test_env_merges_by_name_and_keeps_original_position():
    pod = {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}
    patch = {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}
    env = merge_pod(pod, patch)["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]


def test_scalar_lists_are_replaced_and_null_deletes():
    pod = {"spec": {"containers": [{"name": "c", "args": ["a", "b"], "tty": True}]}}
    out = merge_pod(pod, {"spec": {"containers": [{"name": "c", "args": ["x"], "tty": None}]}})
    assert out["spec"]["containers"][0] == {"name": "c", "args": ["x"]}


def test_inputs_are_not_modified():
    pod = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    patch = {"spec": {"volumes": [{"name": "w"}]}}
    merge_pod(pod, patch)
    assert pod == {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    assert patch == {"spec": {"volumes": [{"name": "w"}]}}
