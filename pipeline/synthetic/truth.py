"""The synthetic truth under a point: the one lookup the accuracy study, the simulated annotators and the tests
use to find the true surface point behind a point of a synthetic person's box.

A synthetic image's truth is a set of per-pixel arrays (written by the generator, :mod:`pipeline.synthetic.scene`):
``instance`` (which person, 0 none), ``face`` (which template face, -1 none), ``bary`` (barycentric coordinates
in it) and ``surface`` (the template point, metres). A point of a person's box holds a true surface point when
the image pixel under it (:func:`pipeline.boxframe.pixel`) shows that very person's body; a pixel that shows
someone else, or nothing, has no truth to compare with.

How far an answer is from the truth is measured one way only: the geodesic distance on the template,
:func:`pipeline.evaluation.study.surface_distance` (the paper's measure).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import boxframe

ARRAYS = ("instance", "face", "bary", "surface")


@dataclass(frozen=True)
class TruePoints:
    """The truth under N points of one person's box; ``face``, ``bary`` and ``surface`` mean something only
    where ``shown``."""

    shown: np.ndarray  # (N,) bool: the pixel shows this person's body
    face: np.ndarray  # (N,) int64
    bary: np.ndarray  # (N, 3) float64
    surface: np.ndarray  # (N, 3) float64, template metres
    row: np.ndarray  # (N,) the image pixel looked at
    col: np.ndarray


@dataclass(frozen=True)
class SyntheticTruth:
    """One synthetic image's per-pixel truth and its people's records (index, bbox, dp_masks, points, ...)."""

    instance: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    surface: np.ndarray
    people: tuple = ()

    @classmethod
    def load(cls, path: Path, people=()) -> SyntheticTruth:
        """From the image's truth file (npz) and its people's records."""
        with np.load(Path(path)) as data:
            missing = [k for k in ARRAYS if k not in data]
            if missing:
                raise ValueError(f"{path}: the truth file has no {', '.join(missing)}")
            return cls(**{k: data[k] for k in ARRAYS}, people=tuple(people))

    def person(self, index: int) -> dict:
        """The record of person ``index`` (as the generator numbered them)."""
        for p in self.people:
            if p["index"] == index:
                return p
        raise KeyError(f"the image has no synthetic person {index}")

    def under(self, index: int, bbox, box_x, box_y) -> TruePoints:
        """The truth under box-frame points of person ``index`` whose box is ``bbox``."""
        row, col = boxframe.pixel(bbox, np.atleast_1d(box_x), np.atleast_1d(box_y), self.instance.shape)
        face = self.face[row, col].astype(np.int64)
        shown = (self.instance[row, col] == index) & (face >= 0)
        return TruePoints(shown, face, self.bary[row, col].astype(np.float64),
                          self.surface[row, col].astype(np.float64), row, col)  # fmt: skip
