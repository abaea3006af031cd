"""The HTML report of a score run, with the paper's figures (``hscanom report``).

``build_report(url, run_id, out_dir, seed=0, progress=None)`` writes ``out_dir/index.html``
and its PNG figures; see :mod:`hscanom.report.build` for the folder's contents,
:mod:`hscanom.report.data` for the queries, :mod:`hscanom.report.figures` for the figures
and :mod:`hscanom.report.page` for the page.
"""

from hscanom.report.build import build_report
from hscanom.report.data import ReportError

__all__ = ["ReportError", "build_report"]
