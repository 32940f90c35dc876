"""Training machinery shared by every model: checkpoints (``save``/``load``) and the loop.

``checkpoint`` is imported eagerly (``tinygen.save``/``tinygen.load`` come from it); the loop
loads the data, metric and picture modules only when a run needs them.
"""
from .checkpoint import CheckpointError, load, save
from .loop import (NonFiniteLossError, Run, fit, load_run, prepare, read_log, resolve_hparams, sample,
                   save_checkpoint, train, write_outputs)

__all__ = ["CheckpointError", "NonFiniteLossError", "Run", "fit", "load", "load_run", "prepare", "read_log",
           "resolve_hparams", "sample", "save", "save_checkpoint", "train", "write_outputs"]
