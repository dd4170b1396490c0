"""Convolution arithmetic: output sizes under kernel size, stride, padding and dilation."""

from __future__ import annotations

import math

__all__ = ["conv_output_size"]


def conv_output_size(
    size: int, kernel_size: int, *, stride: int = 1, padding: str | int = "valid", dilation: int = 1
) -> int:
    """Output length along one axis (height or width) of a convolution or pooling layer.

    ``(size + 2 * padding - effective_kernel) // stride + 1``, where a kernel with ``dilation``
    (spacing between its taps; 1 is an ordinary kernel) covers
    ``effective_kernel = dilation * (kernel_size - 1) + 1`` inputs. ``padding`` is "valid" (no
    padding), "same" (Keras: the output is ``ceil(size / stride)``), or a number of zeros added
    on each side.
    """
    checked = {"size": size, "kernel_size": kernel_size, "stride": stride, "dilation": dilation}
    for name, value in checked.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if padding == "same":
        return math.ceil(size / stride)
    if padding == "valid":
        padding = 0
    if isinstance(padding, str) or int(padding) != padding or padding < 0:
        raise ValueError(f"padding must be 'valid', 'same' or a number >= 0, got {padding!r}.")
    effective = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < effective:
        raise ValueError(
            f"a kernel covering {effective} inputs does not fit in {size} inputs with padding "
            f"{padding}: use a smaller kernel or dilation, or more padding."
        )
    return (size + 2 * padding - effective) // stride + 1
