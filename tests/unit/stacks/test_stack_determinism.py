"""Two syntheses of the same inputs give byte-identical output."""

from pathlib import Path


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_synthesizing_twice_gives_byte_identical_output(local, resynthesized_local):
    first = files_under(local.outdir)
    second = files_under(resynthesized_local)
    assert sorted(first) == sorted(second)
    assert len(first) > 5
    changed = [name for name in first if first[name] != second[name]]
    assert changed == []
