"""Progress lines for long cells, so that a student can tell a working cell from a hung one.

They print one short line every few seconds: a line per epoch would bury a cell that trains
five models, and an executed notebook keeps a progress bar as escape codes.

    model.fit(x, y, epochs=20, verbose=0, callbacks=[EpochProgress("dropout")])
    # dropout: epoch 7/20, loss 0.41, val_accuracy 0.78
"""

from __future__ import annotations

import time

import keras

__all__ = ["EpochProgress", "Ticker"]


class Ticker:
    """Prints "label: step i/n, ..." at most every ``every`` seconds, and at the last step."""

    def __init__(self, label: str, total: int, unit: str = "step", every: float = 5.0) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self._last = time.monotonic()

    def tick(self, done: int, details: str = "") -> None:
        """Report that ``done`` of ``total`` are done; print when due."""
        now = time.monotonic()
        if done < self.total and now - self._last < self.every:
            return
        self._last = now
        line = f"{self.label}: {self.unit} {done}/{self.total}"
        print(f"{line}, {details}" if details else line, flush=True)


class EpochProgress(keras.callbacks.Callback):
    """A Keras callback: a short line with the epoch's metrics every few seconds of training."""

    def __init__(self, label: str, every: float = 5.0) -> None:
        super().__init__()
        self.label, self.every = label, every
        self._ticker: Ticker | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clock; the number of epochs comes from ``fit``."""
        self._ticker = Ticker(self.label, self.params.get("epochs", 0), "epoch", self.every)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Print the epoch's loss and accuracies when a line is due."""
        logs = logs or {}
        shown = [name for name in ("loss", "accuracy", "val_accuracy") if name in logs]
        details = ", ".join(f"{name} {logs[name]:.3g}" for name in shown)
        if self._ticker is not None:
            self._ticker.tick(epoch + 1, details)
