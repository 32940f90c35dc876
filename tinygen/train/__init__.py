"""Training machinery shared by every model: one loop, runs that save and resume exactly, the loss
log, pictures and final outputs. ``save``/``load`` (checkpoint files) live below, in
``tinygen/checkpoint.py``, and are re-exported here for convenience.

Importing this package imports every model (``tinygen.models``): the loop reaches them by name.
"""
from ..checkpoint import CheckpointError, load, save
from .log import NonFiniteLossError, read_log
from .loop import fit, train
from .outputs import write_outputs
from .run import Run, RunExistsError, load_run, prepare, resolve_hparams, save_checkpoint
from .sampling import sample, sample_with_conditions

__all__ = ["CheckpointError", "NonFiniteLossError", "Run", "fit", "load", "load_run", "prepare", "read_log",
           "RunExistsError", "resolve_hparams", "sample", "sample_with_conditions", "save", "save_checkpoint",
           "train", "write_outputs"]
