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


def _tree_with_links(root: Path) -> None:
    (root / ".git").mkdir()
    for rel in ("apps/base/d.yaml", "apps/prod/p.yaml", "apps/prod/deep/q.yml", "deploy/x/out.yaml", "docs/a.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("a: 1\n")
    (root / "deploy" / ".meshrender-output").write_text("version: 1\n")
    (root / "apps" / "prod" / "base").symlink_to("../base")  # inside the repository: followed
    (root / "apps" / "prod" / "out.yaml").symlink_to("/etc/hostname")  # outside: a warning
    (root / "apps" / "prod" / "gone.yaml").symlink_to("missing.yaml")  # broken: a warning


def test_a_walk_after_the_search_for_output_folders_finds_what_a_walk_alone_finds(tmp_path, monkeypatch):
    """render-check lists the repository to find output folders, and the input walk then
    takes those listings instead of listing each folder again: what it finds, and how it
    names it (symlinks, warnings), must be what a walk of its own finds."""
    from meshrender.commands.render_check import find_outputs

    _tree_with_links(tmp_path)
    monkeypatch.chdir(tmp_path)
    alone = walk.walk_folder(Path("apps"))
    with walk.remembering_walks():
        assert find_outputs(Path(".")) == [Path("deploy")]
        assert walk._LISTINGS, "the search kept its listings"
        taken = walk.walk_folder(Path("apps"))
        assert not any(real.startswith(str(tmp_path / "apps")) for real in walk._LISTINGS)  # each taken once
    assert taken == alone
    assert [rel for _, _, rel in taken.files] == ["base/d.yaml", "prod/deep/q.yml", "prod/p.yaml"]
    assert ("apps/prod/base", str(tmp_path / "apps" / "base")) in taken.links  # (walked once, as base/)
    assert ("apps/prod/out.yaml", "/etc/hostname") in taken.links
    assert any(w.startswith("apps/prod/gone.yaml:1:1: warning: skipping broken symlink") for w in taken.warnings)


def test_listings_are_kept_only_within_a_command(tmp_path):
    _tree_with_links(tmp_path)
    real = os.path.realpath(tmp_path / "docs")
    with walk.remembering_walks():
        walk.listing(tmp_path / "docs", real, keep=True)
        (tmp_path / "docs" / "b.yaml").write_text("b: 2\n")
        assert [e.name for e in walk.listing(tmp_path / "docs", real)] == ["a.yaml"]  # the command's listing
        assert [e.name for e in walk.listing(tmp_path / "docs", real)] == ["a.yaml", "b.yaml"]  # taken: anew
    walk.listing(tmp_path / "docs", real, keep=True)  # outside a command: nothing is kept
    (tmp_path / "docs" / "c.yaml").write_text("c: 3\n")
    assert [e.name for e in walk.listing(tmp_path / "docs", real)] == ["a.yaml", "b.yaml", "c.yaml"]
