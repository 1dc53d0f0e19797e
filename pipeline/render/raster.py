"""Offscreen rasterisation of face ids on the GPU (or Mesa's llvmpipe on a CPU) through moderngl + EGL.

``gl_PrimitiveID`` goes into an integer texture, so ids are exact at triangle edges (no multisample
blending). Barycentric coordinates and depth are then computed exactly from the id and the pixel's ray.
"""

from __future__ import annotations

import threading

import numpy as np

from pipeline.render.camera import Camera

_VERTEX = """
#version 330
uniform mat4 mvp;
in vec3 position;
void main() { gl_Position = mvp * vec4(position, 1.0); }
"""
_FRAGMENT = """
#version 330
out int face;
void main() { face = gl_PrimitiveID; }
"""

NO_FACE = -1
# Which window-space winding is a face seen from outside (checked against ray casting in the tests).
FRONT_FACE = "ccw"
_local = threading.local()


class RenderError(RuntimeError):
    pass


def _context():
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        try:
            import moderngl

            ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:
            raise RenderError(
                "cannot create an offscreen OpenGL context through EGL; on Debian install libegl1, libegl-mesa0, "
                f"libgl1-mesa-dri and libgbm1 (make run does): {exc}"
            ) from exc
        _local.ctx = ctx
        _local.program = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
    return ctx, _local.program


def rasterize_ids(vertices: np.ndarray, faces: np.ndarray, camera: Camera, front_face: str = FRONT_FACE) -> np.ndarray:
    """Index into ``faces`` of the front-most face at each pixel centre (H, W) int32, NO_FACE if none.

    Faces seen from behind (the inside of a part cut from a closed surface) are not drawn: ``faces`` must wind
    counter-clockwise seen from outside."""
    ctx, program = _context()
    tri = np.ascontiguousarray(vertices[faces].reshape(-1, 3), dtype=np.float32)
    depth = camera.to_camera(vertices)[:, 2]
    near = max(float(depth.min()) * 0.5, 1e-3)
    far = float(depth.max()) * 2 + 1.0
    program["mvp"].write(camera.gl_matrix(near, far).T.astype(np.float32).tobytes())
    vbo = ctx.buffer(tri.tobytes())
    vao = ctx.vertex_array(program, [(vbo, "3f", "position")])
    color = ctx.texture((camera.width, camera.height), 1, dtype="i4")
    depth_rb = ctx.depth_renderbuffer((camera.width, camera.height))
    fbo = ctx.framebuffer(color_attachments=[color], depth_attachment=depth_rb)
    try:
        fbo.use()
        ctx.enable(ctx.DEPTH_TEST)
        ctx.enable(ctx.CULL_FACE)
        ctx.front_face = front_face
        fbo.clear(depth=1.0)
        color.write(np.full(camera.width * camera.height, NO_FACE, dtype=np.int32).tobytes())
        vao.render()
        ids = np.frombuffer(fbo.read(components=1, dtype="i4"), dtype=np.int32)
    finally:
        for obj in (vao, vbo, fbo, color, depth_rb):
            obj.release()
    # OpenGL's first row is the bottom one
    return ids.reshape(camera.height, camera.width)[::-1].copy()


def pixel_centres(camera: Camera) -> np.ndarray:
    ys, xs = np.mgrid[0 : camera.height, 0 : camera.width]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)


def ray_triangle(origin: np.ndarray, directions: np.ndarray, triangles: np.ndarray):
    """Intersect rays (N, 3) from one origin with their triangles (N, 3, 3): barycentric (N, 3) and distance t."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(directions, e2)
    det = np.einsum("ij,ij->i", e1, p)
    det = np.where(np.abs(det) < 1e-18, 1e-18, det)
    s = origin - a
    u = np.einsum("ij,ij->i", s, p) / det
    q = np.cross(s, e1)
    v = np.einsum("ij,ij->i", directions, q) / det
    t = np.einsum("ij,ij->i", e2, q) / det
    return np.stack([1 - u - v, u, v], axis=1), t
