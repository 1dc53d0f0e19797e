import hashlib
import os

from pipeline import datafolder


def test_manifest_hashes_every_regular_file_and_skips_links_and_excluded(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"x" * 10_000_000)
    (tmp_path / "y.txt").write_text("y")
    (tmp_path / "jobs" / "7").mkdir(parents=True)
    (tmp_path / "jobs" / "7" / "integrity.json").write_text("{}")
    os.symlink(tmp_path / "y.txt", tmp_path / "link.txt")
    seen = []
    files = datafolder.list_files(tmp_path, exclude_prefixes=["jobs/7"])
    manifest = datafolder.build_manifest(tmp_path, files, lambda done, total, rel: seen.append((done, total)))
    assert sorted(manifest) == ["a/x.bin", "y.txt"]
    assert manifest["a/x.bin"].sha256 == hashlib.sha256(b"x" * 10_000_000).hexdigest()
    assert manifest["a/x.bin"].size == 10_000_000
    assert seen[-1] == (10_000_001, 10_000_001)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_compare_tells_edits_from_corruption(tmp_path):
    for name in ("keep", "edit", "rot", "gone"):
        (tmp_path / name).write_text(name)
    before = datafolder.build_manifest(tmp_path, datafolder.list_files(tmp_path))

    (tmp_path / "edit").write_text("edited, longer")
    st = (tmp_path / "rot").stat()
    (tmp_path / "rot").write_text("ROT")
    os.utime(tmp_path / "rot", ns=(st.st_atime_ns, st.st_mtime_ns))
    (tmp_path / "gone").unlink()
    (tmp_path / "new").write_text("new")
    after = datafolder.build_manifest(tmp_path, datafolder.list_files(tmp_path))

    diff = datafolder.compare(before, after)
    assert (diff.added, diff.missing, diff.modified, diff.corrupted) == (["new"], ["gone"], ["edit"], ["rot"])
    assert diff.counts() == {"added": 1, "missing": 1, "modified": 1, "corrupted": 1}


def test_manifest_json_round_trip(tmp_path):
    (tmp_path / "f").write_text("f")
    manifest = datafolder.build_manifest(tmp_path, datafolder.list_files(tmp_path))
    assert datafolder.manifest_from_json(datafolder.manifest_to_json(manifest)) == manifest
