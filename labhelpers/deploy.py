"""Running an exported model: the LiteRT (TensorFlow Lite) interpreter, wherever it comes from.

LiteRT is TensorFlow Lite's new name, and its interpreter moved out of TensorFlow into the
``ai-edge-litert`` package (``tf.lite.Interpreter`` is deprecated). That package has no wheel
for some platforms (Intel Macs), where TensorFlow's own interpreter still runs the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["tflite_interpreter"]


def tflite_interpreter(model: bytes | str | Path) -> Any:
    """A LiteRT interpreter for a ``.tflite`` model (its bytes or its path), tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # no LiteRT wheel for this platform: TensorFlow's interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - a class, named as its package does
    if isinstance(model, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(model))
    else:
        interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    return interpreter
