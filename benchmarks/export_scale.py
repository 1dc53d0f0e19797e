"""Export at the paper's scale: 50,000 accepted people and 5,000,000 points in PostgreSQL.

    .venv/bin/python benchmarks/export_scale.py [--people 50000] [--points-per-person 100]
        [--database postgres://postgres@127.0.0.1:5432/densepose_bench_export]

Makes its own database, fills it with COPY (two people an image, part masks, accepted stage-1 and stage-2
tasks, sampled points inside their parts with their correspondences), then runs
``manage.py export_densepose`` as a separate process and prints its wall time, peak memory (max RSS) and the
file's size. Targets: under 60 s and 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_IMAGE = 2


def template():
    """One person's part labels (256 x 256 box frame) and its dp_masks."""
    from pipeline.coco.densepose import dp_masks_from_labels

    labels = np.zeros((256, 256), dtype=np.uint8)
    labels[10:50, 100:156] = 14  # head
    labels[50:140, 80:176] = 1  # torso
    labels[50:95, 50:80], labels[50:95, 176:206] = 11, 10  # upper arms (right on the image's left)
    labels[95:140, 45:75], labels[95:140, 181:211] = 13, 12  # lower arms
    labels[140:160, 40:75], labels[140:160, 181:216] = 2, 3  # hands
    labels[140:195, 85:125], labels[140:195, 131:171] = 6, 7  # upper legs
    labels[195:240, 85:125], labels[195:240, 131:171] = 8, 9  # lower legs
    labels[240:254, 80:125], labels[240:254, 131:176] = 5, 4  # feet
    return labels, dp_masks_from_labels(labels)


def copy(cursor, table: str, columns: list[str], lines) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        buffer = io.StringIO()
        for k, line in enumerate(lines):
            buffer.write(line)
            if k % 200_000 == 199_999:
                cp.write(buffer.getvalue())
                buffer = io.StringIO()
        cp.write(buffer.getvalue())


def fill(database: str, people: int, per_person: int) -> float:
    import json

    import psycopg

    from pipeline import parts

    t0 = time.monotonic()
    labels, dp_masks = template()
    masks_json = json.dumps(dp_masks).replace("\\", "\\\\")
    rng = np.random.default_rng(0)
    # the same point layout for everyone: k-means-like spread, each point inside its own part
    layout = []
    present = [p for p in parts.MASK_PARTS if (labels == p).any()]
    for k in range(per_person):
        part = present[k % len(present)]
        ys, xs = np.nonzero(labels == part)
        j = rng.integers(len(ys))
        layout.append((part, k // len(present), xs[j] + 0.5, ys[j] + 0.5, parts.MASK_PART_TO_CHARTS[part][0]))
    images = people // PER_IMAGE
    now = "2026-01-01 00:00:00+00"
    with psycopg.connect(database, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO data_project (name, title, body_model, points_per_part, review_fraction, "
                    "preannotated_review_fraction, lease_minutes, paused, synthetic, allow_self_review, created_at) "
                    "VALUES ('scale', '', 'anny', 14, 1.0, 1.0, 30, false, false, false, now()) "
                    "RETURNING id")  # fmt: skip
        (project,) = cur.fetchone()
        copy(cur, "data_image", ["id", "project_id", "file", "width", "height", "sha256", "source", "source_id",
                                 "split", "created_at"],
             (f"{i}\t{project}\tprojects/{project}/images/{i:08d}.jpg\t640\t480\t{i:064x}\tupload\t\t\t{now}\n"
              for i in range(1, images + 1)))  # fmt: skip
        copy(cur, "data_person", ["id", "image_id", "x", "y", "w", "h", "source_id", "created_at"],
             (f"{p}\t{(p - 1) // PER_IMAGE + 1}\t{40 + 290 * ((p - 1) % PER_IMAGE)}\t40\t200\t400\t\t{now}\n"
              for p in range(1, people + 1)))  # fmt: skip
        copy(cur, "work_partmasks", ["id", "person_id", "dp_masks", "origin", "current", "created_at"],
             (f"{p}\t{p}\t{masks_json}\tclick\tt\t{now}\n" for p in range(1, people + 1)))  # fmt: skip
        copy(cur, "work_task", ["project_id", "person_id", "stage", "state", "priority", "review_comment",
                                "rejections", "skip_reason", "skip_note", "flagged_points", "processing_error",
                                "created_at", "updated_at"],
             (f"{project}\t{p}\t{s}\tdone\t0\t\t0\t\t\t[]\t\t{now}\t{now}\n"
              for p in range(1, people + 1) for s in (1, 2)))  # fmt: skip
        copy(cur, "work_sampledpoint", ["id", "person_id", "masks_id", "part", '"order"', "box_x", "box_y", "current"],
             (f"{(p - 1) * per_person + k + 1}\t{p}\t{p}\t{part}\t{order}\t{x}\t{y}\tt\n"
              for p in range(1, people + 1) for k, (part, order, x, y, _) in enumerate(layout)))  # fmt: skip
        u = np.round(rng.random(per_person), 4)
        copy(cur, "work_correspondence", ["point_id", "status", "chart", "u", "v", "origin", "seconds_spent",
                                          "current", "created_at"],
             (f"{(p - 1) * per_person + k + 1}\tok\t{chart}\t{u[k]}\t{u[-k - 1]}\tclick\t3\tt\t{now}\n"
              for p in range(1, people + 1) for k, (_, _, _, _, chart) in enumerate(layout)))  # fmt: skip
        for table in ("data_image", "data_person", "work_partmasks", "work_sampledpoint"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        cur.execute("ANALYZE")
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--points-per-person", type=int, default=100)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/densepose_bench_export")
    args = parser.parse_args()

    from benchmarks.api_load import ensure_database

    ensure_database(args.database)
    data_dir = Path(tempfile.mkdtemp(prefix="densepose-export-"))
    env = {**os.environ, "DATABASE_URL": args.database, "DATA_DIR": str(data_dir), "APP_ENV": "test",
           "ASSET_CACHE_DIR": str(ROOT / "test-artifacts" / "cache")}  # fmt: skip
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    fill_s = fill(args.database, args.people, args.points_per_person)

    out = data_dir / "scale.json"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "manage.py", "export_densepose", "--project", "scale", "--only-accepted",
                             "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    export_s = time.monotonic() - t0
    output = proc.stdout.read().decode().strip()
    if status != 0:
        raise SystemExit(f"export failed: {output}")
    print(f"\n{args.people} people, {args.people * args.points_per_person:,} points (filled in {fill_s:.0f} s)")
    print(f"{'export_densepose':24}{export_s:8.1f} s   (target < 60 s)")
    print(f"{'peak memory (max RSS)':24}{usage.ru_maxrss / 1024:8.0f} MB  (target < 2048 MB)")
    print(f"{'file':24}{out.stat().st_size / 1e6:8.0f} MB   {output}")


if __name__ == "__main__":
    main()
