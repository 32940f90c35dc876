"""The progress display: tqdm when it is installed, else a plain line every twentieth of the run (tqdm is optional)."""
from __future__ import annotations

import sys
from typing import Any, Mapping


class ProgressBar:
    """``update(done, losses)`` after each step; ``close()`` at the end (or use ``with``)."""

    def __init__(self, total: int, initial: int, description: str, enabled: bool) -> None:
        self.total, self.enabled, self.description = total, enabled, description
        self.bar = None
        self.every = max(1, total // 20)  # without tqdm: a line every twentieth of the run, and the last step
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, initial=initial, desc=description, file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, losses: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            self.bar.update(1)
            return
        if done % self.every == 0 or done == self.total:
            text = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
            print(f"{self.description}: step {done}/{self.total} {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
