"""The engine's own exceptions: every error a user can cause is one of these."""

from __future__ import annotations


class DENError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(DENError, ValueError):
    """A configuration field has a value outside what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RunFileError(DENError):
    """A run directory or one of its files is missing, partial, foreign or corrupted."""


class TrainingStopped(DENError):
    """Training was stopped by the caller at a step boundary; finished tasks are kept."""


class TrainingDiverged(DENError):
    """A loss became NaN or infinite; the task was abandoned and the last good state kept."""

    def __init__(self, stage: str, iteration: int, loss: float) -> None:
        super().__init__(
            f"training diverged in stage '{stage}' at iteration {iteration} "
            f"(loss = {loss}); try a smaller learning_rate"
        )
        self.stage = stage
        self.iteration = iteration
        self.loss = loss
