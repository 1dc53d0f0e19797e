"""The browser's click mapping (frontend/src/surface.ts) against the server's (pipeline/correspond.py), without a
browser: real view bundles and the server's answers for clicks on them are written here, and Vitest reads them
(frontend/tests/parity.test.ts) and maps the same clicks."""

import json
import os
import subprocess

import numpy as np

from pipeline.correspond import ClickMapper
from pipeline.render.bundle import bundle_faces, part_bundle
from pipeline.render.raster import NO_FACE
from tests.stack import frontend_tool

PARTS = (1, 2, 4, 14)  # torso, a hand, a foot, the head: large and small parts
CLICKS_PER_PART = 400


def test_the_browser_maps_clicks_as_the_server_does(assets, tmp_path):
    frontend = frontend_tool("vitest")
    mapper = ClickMapper(assets)
    rng = np.random.default_rng(0)
    cases = []
    for part in PARTS:
        (tmp_path / f"part-{part}.bin").write_bytes(part_bundle(assets, part))
        faces = bundle_faces(assets, part)
        size, views = assets.size, assets.face_ids.shape[1]
        # half anywhere in the views (many off the part), half on pixels that show it, anywhere inside them
        view = rng.integers(0, views, CLICKS_PER_PART)
        xy = rng.uniform(0, size, (CLICKS_PER_PART, 2))
        shown = np.argwhere(assets.face_ids[part - 1] != NO_FACE)  # (view, row, col)
        pick = shown[rng.integers(0, len(shown), CLICKS_PER_PART // 2)]
        view[: len(pick)] = pick[:, 0]
        xy[: len(pick)] = pick[:, [2, 1]] + rng.uniform(0.001, 0.999, (len(pick), 2))
        hit = mapper.map_clicks(np.full(len(view), part), view, xy[:, 0], xy[:, 1])
        for k in range(len(view)):
            ok = bool(hit.ok[k])
            cases.append({
                "part": part, "view": int(view[k]), "x": float(xy[k, 0]), "y": float(xy[k, 1]), "ok": ok,
                "face": int(np.searchsorted(faces, hit.face[k])) if ok else -1, "chart": int(hit.chart[k]),
                "u": float(hit.uv[k, 0]), "v": float(hit.uv[k, 1]), "point": hit.point[k].tolist(),
            })  # fmt: skip
    assert sum(c["ok"] for c in cases) > len(cases) / 3, "enough clicks land on the parts to compare"
    (tmp_path / "clicks.json").write_text(json.dumps(cases))
    done = subprocess.run(["npx", "vitest", "run", "tests/parity.test.ts"], cwd=frontend, capture_output=True,
                          text=True, env={**os.environ, "PARITY_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout, done.stdout[-2000:]
