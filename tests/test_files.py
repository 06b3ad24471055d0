"""Files written for other processes to read."""

from __future__ import annotations

from pathlib import Path

from traceway.files import write_atomically


def test_a_file_written_atomically_replaces_the_old_one_whole_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ready.json"
    write_atomically(path, '{"port": 1}')
    write_atomically(path, '{"port": 2}')
    assert path.read_text() == '{"port": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready.json"]
