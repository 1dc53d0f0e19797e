"""DensePose charts for a mesh that has none: the paper's recipe (see build.py)."""

from pipeline.charts.build import ChartMetrics, ChartSet, build_charts

__all__ = ["ChartMetrics", "ChartSet", "build_charts"]
