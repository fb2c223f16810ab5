"""Frozen data (render/yamlio/frozen.py): what the sidecar cache shares between pods reads like
plain data everywhere, refuses every change, and is written like plain data."""

from __future__ import annotations

import copy
import pickle

import pytest

from meshrender.yamlio import emit as yamlemit
from meshrender.yamlio.frozen import FrozenDict, FrozenList, SharedDataError, freeze, thaw


def test_frozen_data_reads_as_plain_data_and_refuses_changes():
    value = freeze({"a": [1, {"b": "c"}], "d": {}})
    assert value == {"a": [1, {"b": "c"}], "d": {}}
    assert type(value) is FrozenDict and type(value["a"]) is FrozenList and type(value["a"][1]) is FrozenDict
    for change in (lambda: value.__setitem__("x", 1), lambda: value.pop("a"), lambda: value.update(x=1),
                   lambda: value.setdefault("x", 1), lambda: value["a"].append(2),
                   lambda: value["a"].__setitem__(0, 2), lambda: value["a"].sort(), lambda: value.clear()):
        with pytest.raises(SharedDataError):
            change()
    assert value == {"a": [1, {"b": "c"}], "d": {}}
    changeable = thaw(value)
    changeable["x"] = 1
    assert type(changeable) is dict and changeable["a"] is value["a"]
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.deepcopy(value) == value and copy.copy(value) == value
    with pytest.raises(ValueError):
        freeze({"$patch": "replace"})


def test_emitter_writes_a_shared_subtree_alike_wherever_it_is():
    shared = freeze({"name": "x", "args": ["a", "|b", ""], "multi": "one\ntwo\n", "empty": {}, "none": []})
    plain = thaw(shared)
    data = {"top": shared, "list": [shared, [shared]], "deep": {"more": {"here": shared}}, "l": shared["args"]}
    expected = {"top": plain, "list": [plain, [plain]], "deep": {"more": {"here": plain}}, "l": list(plain["args"])}
    for sort in (True, False):
        assert yamlemit.dump(data, sort) == yamlemit.dump(copy.deepcopy(expected), sort)
        assert yamlemit.dump(data, sort) == yamlemit.dump(data, sort)  # and again, from the memo
