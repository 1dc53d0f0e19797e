"""Data-folder integrity: a content manifest of a folder tree and the comparison of two manifests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the scanned root, "/"-separated
    size: int
    mtime_ns: int
    sha256: str


@dataclass
class ManifestDiff:
    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # content changed, size or time changed with it
    corrupted: list[str] = field(default_factory=list)  # content changed, same size and time: not an edit

    def counts(self) -> dict[str, int]:
        return {name: len(paths) for name, paths in asdict(self).items()}


def list_files(root: Path, exclude_prefixes: Iterable[str] = ()) -> list[tuple[str, os.stat_result]]:
    """Regular files under ``root`` (links not followed), sorted by relative path."""
    root = Path(root)
    prefixes = tuple(p.rstrip("/") + "/" for p in exclude_prefixes)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if prefixes and rel.startswith(prefixes):
                continue
            st = os.lstat(full)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append((rel, st))
    found.sort(key=lambda item: item[0])
    return found


def hash_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def build_manifest(
    root: Path,
    files: list[tuple[str, os.stat_result]],
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, FileRecord]:
    """Hash every listed file; ``on_progress(done_bytes, total_bytes, path)`` is called as it goes."""
    total = sum(st.st_size for _, st in files)
    done = 0

    def advance(n: int, rel: str) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total, rel)

    manifest = {}
    for rel, st in files:
        try:
            sha = hash_file(Path(root) / rel, lambda n, rel=rel: advance(n, rel))
        except FileNotFoundError:  # removed while we were scanning
            continue
        manifest[rel] = FileRecord(rel, st.st_size, st.st_mtime_ns, sha)
    return manifest


def compare(old: dict[str, FileRecord], new: dict[str, FileRecord]) -> ManifestDiff:
    diff = ManifestDiff()
    for rel in sorted(new.keys() - old.keys()):
        diff.added.append(rel)
    for rel in sorted(old.keys() - new.keys()):
        diff.missing.append(rel)
    for rel in sorted(old.keys() & new.keys()):
        before, after = old[rel], new[rel]
        if before.sha256 == after.sha256:
            continue
        if before.size == after.size and before.mtime_ns == after.mtime_ns:
            diff.corrupted.append(rel)
        else:
            diff.modified.append(rel)
    return diff


def manifest_to_json(manifest: dict[str, FileRecord]) -> list[dict]:
    return [asdict(record) for record in manifest.values()]


def manifest_from_json(rows: list[dict]) -> dict[str, FileRecord]:
    return {row["path"]: FileRecord(**row) for row in rows}
