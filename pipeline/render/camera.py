"""Pinhole cameras in the OpenCV convention: the camera looks along +Z, x right, y down.

A pixel (row i, column j) covers [j, j+1) × [i, i+1) in image coordinates (x, y); its centre is (j+0.5, i+0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    rotation: np.ndarray  # (3, 3) world -> camera
    translation: np.ndarray  # (3,) world -> camera: x_cam = R x_world + t

    @classmethod
    def look_at(cls, eye, target, up, *, size: int, fov_deg: float) -> Camera:
        eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        if np.linalg.norm(right) < 1e-9:
            raise ValueError("camera 'up' is parallel to the viewing direction")
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        f = (size / 2) / np.tan(np.deg2rad(fov_deg) / 2)
        return cls(size, size, f, f, size / 2, size / 2, rotation, -rotation @ eye)

    @property
    def position(self) -> np.ndarray:
        return -self.rotation.T @ self.translation

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> image coordinates (N, 2) as (x, y), and depth along the view axis (N,)."""
        cam = self.to_camera(np.asarray(points, dtype=np.float64))
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.stack([self.fx * cam[:, 0] / z + self.cx, self.fy * cam[:, 1] / z + self.cy], axis=1)
        return xy, z

    def rays(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rays through image points (N, 2): origin (3,) and unit directions (N, 3) in world space."""
        xy = np.asarray(xy, dtype=np.float64)
        d = np.stack([(xy[:, 0] - self.cx) / self.fx, (xy[:, 1] - self.cy) / self.fy, np.ones(len(xy))], axis=1)
        d = d @ self.rotation  # camera -> world (R^T d, row-wise)
        return self.position, d / np.linalg.norm(d, axis=1, keepdims=True)

    def gl_matrix(self, near: float, far: float) -> np.ndarray:
        """World -> clip matrix (4, 4) for OpenGL; image row 0 lands at the top of the framebuffer."""
        w, h = self.width, self.height
        proj = np.array(
            [
                [2 * self.fx / w, 0, 2 * self.cx / w - 1, 0],
                [0, -2 * self.fy / h, -(2 * self.cy / h - 1), 0],
                [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
                [0, 0, 1, 0],
            ]
        )
        view = np.eye(4)
        view[:3, :3], view[:3, 3] = self.rotation, self.translation
        return proj @ view

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(
            int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]),
            np.asarray(d["rotation"], dtype=np.float64), np.asarray(d["translation"], dtype=np.float64),
        )  # fmt: skip
