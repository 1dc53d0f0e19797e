"""One body part's six views packed for the browser, which maps clicks and draws the chosen point on all six
views itself (no server round trip per click); the server maps the clicks again on submit.

Layout (little-endian): ``uint32 n`` · ``n`` bytes of JSON header · zero padding to a multiple of 4 ·
``float32 triangles (F, 3, 3)`` · ``float32 corner_uv (F, 3, 2)`` · ``uint8 chart (F)`` · padding to 4 ·
``uint16 ids (6, S, S)``. ``ids`` hold the part's own face index 0..F-1 (not the mesh's), ``NO_LOCAL_FACE``
where the part is not seen. The header holds the cameras (OpenCV convention: x_cam = R x + t) and the
visibility rule's constants, so the browser decides "seen" exactly as :mod:`pipeline.correspond` does, and
each view's direction relative to the body (its label, and its front, left and up components).
"""

from __future__ import annotations

import json
import struct

import numpy as np

from pipeline import parts
from pipeline.render import views as V
from pipeline.render.raster import NO_FACE

BUNDLE_VERSION = 2
NO_LOCAL_FACE = 0xFFFF


def bundle_faces(assets, part: int) -> np.ndarray:
    """The mesh faces a part's bundle holds, in its own order: bundle face k is mesh face ``bundle_faces[k]``."""
    ids = assets.face_ids[part - 1]  # (6, S, S) mesh face ids
    return np.unique(ids[ids != NO_FACE])


def part_bundle(assets, part: int) -> bytes:
    parts.check_mask_part(part)
    ids = assets.face_ids[part - 1]  # (6, S, S) mesh face ids
    faces = bundle_faces(assets, part)
    if len(faces) >= NO_LOCAL_FACE:
        raise ValueError(f"part {part} shows {len(faces)} faces; the bundle holds at most {NO_LOCAL_FACE - 1}")
    local = np.full(ids.shape, NO_LOCAL_FACE, dtype="<u2")
    seen = ids != NO_FACE
    local[seen] = np.searchsorted(faces, ids[seen])
    header = {
        "version": BUNDLE_VERSION,
        "body": assets.body,
        "key": assets.key,
        "part": part,
        "name": parts.mask_part_name(part),
        "size": int(assets.size),
        "views": int(ids.shape[0]),
        "faces": len(faces),
        "no_face": NO_LOCAL_FACE,
        "visibility": {"base_m": V.VISIBILITY_BASE_M, "pixels": V.VISIBILITY_PIXELS},
        "cameras": [
            {
                "rotation": np.asarray(cam.rotation, dtype=float).ravel().tolist(),
                "translation": np.asarray(cam.translation, dtype=float).tolist(),
                "position": cam.position.tolist(),
                "fx": cam.fx,
                "fy": cam.fy,
                "cx": cam.cx,
                "cy": cam.cy,
            }
            for cam in assets.cameras[part - 1]
        ],
        # where each camera stands relative to the body: a label and the direction in the body's axes
        "directions": [
            {"label": V.direction_label(d), **V.direction_components(d)}
            for d in (V.camera_direction(cam) for cam in assets.cameras[part - 1])
        ],
    }
    head = json.dumps(header).encode()
    chunks = [struct.pack("<I", len(head)), head]
    _pad(chunks)
    chunks.append(assets.vertices[assets.faces[faces]].astype("<f4").tobytes())
    chunks.append(assets.corner_uv[faces].astype("<f4").tobytes())
    chunks.append(assets.face_chart[faces].astype(np.uint8).tobytes())
    _pad(chunks)
    chunks.append(local.tobytes())
    return b"".join(chunks)


def _pad(chunks: list[bytes]) -> None:
    chunks.append(b"\0" * (-sum(len(c) for c in chunks) % 4))


def read_part_bundle(data: bytes) -> dict:
    """The inverse of :func:`part_bundle` (used by the tests; the browser has its own reader)."""
    (n,) = struct.unpack_from("<I", data)
    header = json.loads(data[4 : 4 + n])
    offset = 4 + n + (-(4 + n) % 4)
    f, s, views = header["faces"], header["size"], header["views"]
    triangles = np.frombuffer(data, "<f4", f * 9, offset).reshape(f, 3, 3)
    offset += f * 36
    corner_uv = np.frombuffer(data, "<f4", f * 6, offset).reshape(f, 3, 2)
    offset += f * 24
    chart = np.frombuffer(data, np.uint8, f, offset)
    offset += f + (-f % 4)
    ids = np.frombuffer(data, "<u2", views * s * s, offset).reshape(views, s, s)
    return {"header": header, "triangles": triangles, "corner_uv": corner_uv, "chart": chart, "ids": ids}
