"""Data with known mutual information (ground truth for tests and benchmarks)."""

from .gaussian import CorrelatedGaussian, correlated_gaussian, correlations_for_mi, gaussian_mi
from .images import (
    RENDERERS,
    RendererInfo,
    latents_to_uniform,
    list_renderers,
    render,
    render_bump,
    render_elliptic_bump,
    render_rectangle,
)
from .student import MultivariateStudentT, student_t_mi, student_t_shape_mi
from .tasks import Task, get_task, list_tasks

__all__ = [
    "CorrelatedGaussian",
    "MultivariateStudentT",
    "RENDERERS",
    "RendererInfo",
    "Task",
    "correlated_gaussian",
    "correlations_for_mi",
    "gaussian_mi",
    "get_task",
    "latents_to_uniform",
    "list_renderers",
    "list_tasks",
    "render",
    "render_bump",
    "render_elliptic_bump",
    "render_rectangle",
    "student_t_mi",
    "student_t_shape_mi",
]
