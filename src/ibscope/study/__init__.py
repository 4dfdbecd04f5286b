"""Studies: one IB run per seed (and per grid point), run as independent jobs, summarised over seeds.

* :func:`run_study` (``ibscope ib --seeds``) - the driver: checks, the folder, the jobs, the summary;
* :func:`load_study` and :class:`StudyData` - a study folder as data frames;
* :func:`summarize_study` - the mean +- std table over seeds (``summary.csv``);
* :func:`plot_study` - redraw a study's figures;
* :func:`parse_seeds`, :func:`parse_grid` - the ``--seeds`` and ``--grid`` syntax.

Modules: ``grid`` (seeds, grid, points), ``folder`` (``study.json``, run states), ``summary``
(the table over seeds, data frames, figures), ``driver`` (:func:`run_study`). These names are
also available from :mod:`ibscope.ib`, where they lived before.
"""

from .driver import STUDY_BACKENDS, StudyResult, run_study
from .grid import GRID_EXCLUDED, parse_grid, parse_seeds
from .summary import SUMMARY_METRICS, SUMMARY_VALUES, StudyData, load_study, plot_study, summarize_study

__all__ = [
    "run_study",
    "StudyResult",
    "load_study",
    "StudyData",
    "plot_study",
    "summarize_study",
    "parse_seeds",
    "parse_grid",
    "STUDY_BACKENDS",
    "GRID_EXCLUDED",
    "SUMMARY_VALUES",
    "SUMMARY_METRICS",
]
