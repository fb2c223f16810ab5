"""Walking input folders (inputs/walk.py) and reading one file (inputs/files.py): the
order every command sees files in, and bytes read exactly, within bounds, never blocking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshrender.errors import InputError
from meshrender.inputs import files, walk

NAMES = ["a/b.yaml", "a.b/c.yaml", "a/a/x.yaml", "a-b.yaml", "a/z/y.yml", "A.yaml", "a/b/c/d.yaml",
         "a/b.yml", "b.yaml", ".hidden/h.yaml", "node_modules/n.yaml", "a/README.md", "a/b/c.yaml"]


def test_the_walk_lists_yaml_files_in_the_order_of_their_path_parts(tmp_path):
    for rel in NAMES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a: 1\n")
    found = walk.walk_folder(tmp_path)
    rels = [rel for _, _, rel in found.files]
    expected = sorted((n for n in NAMES if n.endswith((".yaml", ".yml")) and not n.startswith((".", "node_modules"))),
                      key=lambda n: n.split("/"))
    assert rels == expected
    assert [str(p) for p, _, _ in found.files] == [str(tmp_path / r) for r in expected]
    assert all(isinstance(p, Path) for p, _, _ in found.files)
    assert [f for f, _ in found.folders][:3] == [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a" / "a")]


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 100_000])
def test_a_file_is_read_exactly(tmp_path, size):
    p = tmp_path / "f.yaml"
    data = os.urandom(size)
    p.write_bytes(data)
    assert files.read_regular(p, "f.yaml") == data


def test_a_file_whose_size_says_nothing_is_read_to_its_end():
    status = files.read_regular("/proc/self/status", "status")  # st_size 0, read in pieces
    assert b"Name:" in status and status.endswith(b"\n")


def test_reading_stops_at_the_limit(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"x" * 5000)
    with pytest.raises(files.TooLarge, match="larger than 1000 bytes"):
        files.read_regular(p, "big.yaml", limit=1000)
    assert files.read_regular(p, "big.yaml", limit=5000) == b"x" * 5000


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        files.read_regular(fifo, "pipe.yaml")  # (returns at once: no writer is waited for)
    with pytest.raises(InputError, match="this is a folder"):
        files.read_regular(tmp_path, "folder")
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    (tmp_path / "elsewhere.yaml").write_text("a: 1\n")
    assert files.read_regular(link, "link.yaml") == b"a: 1\n"
    with pytest.raises(InputError, match="is a symlink"):
        files.read_regular(link, "link.yaml", follow=False)
