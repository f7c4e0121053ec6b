"""Layer kinds of the expandable network: fully connected and convolutional.

Every hidden weight is (n_out, n_in, *extra) with units on dims 0 and 1, so growth, splits,
pruning and gathers index the same two dims whatever the kind:

- dense: (units, units below) -- ``extra`` is empty, the MLP layout;
- conv: (filters, channels below, k, k) -- a filter (output channel) is the unit, then a
  ReLU and a 2x2 max-pooling (ceil mode, so a 1x1 map stays 1x1); 'same' padding keeps
  small images (8x8 digits) usable through two conv layers;
- the first dense layer above conv layers: (units, channels below, H*W) -- one block of
  map positions per filter of the last conv layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from den_engine.core.errors import ConfigError


def is_conv(w: torch.Tensor) -> bool:
    """True for a conv layer's weight (filters, channels, k, k)."""
    return w.dim() == 4


def apply_layer(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One hidden layer's activations: conv + ReLU + 2x2 max-pool, or linear + ReLU."""
    if w.dim() == 4:
        return F.max_pool2d(F.relu(F.conv2d(h, w, b, padding="same")), 2, ceil_mode=True)
    if w.dim() == 3:  # the first dense layer reads every map position of every channel below
        h, w = h.flatten(1), w.flatten(1)
    return F.relu(F.linear(h, w, b))


def unit_mask(mask: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """A (n,) per-unit mask shaped to multiply activations ``h`` (batch, n[, H, W])."""
    return mask.view(-1, *([1] * (h.dim() - 2)))


def spread(mask: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A (n_out, n_in) or (n_out, 1) unit-level bool mask as an entry mask of ``w`` (a copy)."""
    if w.dim() == 2:
        return mask.expand_as(w).clone()
    return mask.view(*mask.shape, *([1] * (w.dim() - 2))).expand_as(w).clone()


def fan_in(shape: tuple[int, ...]) -> int:
    """Inputs of one unit: its incoming entries (channels x kernel taps for a filter)."""
    return math.prod(shape[1:])


def pooled(size: int) -> int:
    """Side of a map after 2x2 max-pooling in ceil mode."""
    return (size + 1) // 2


def map_positions(input_shape: tuple[int, ...], n_conv: int) -> int:
    """H*W of the last conv layer's pooled map for images of ``input_shape`` (C, H, W)."""
    _, height, width = input_shape
    for _ in range(n_conv):
        height, width = pooled(height), pooled(width)
    return height * width


def body_parameter_count(
    input_shape: tuple[int, ...], conv_channels: tuple[int, ...], kernel_size: int, hidden_sizes: tuple[int, ...]
) -> int:
    """Weights and biases of a base conv network's hidden layers (kernels included, no head)."""
    total, below = 0, input_shape[0]
    for size in conv_channels:
        total += size * below * kernel_size * kernel_size + size
        below = size
    below *= map_positions(input_shape, len(conv_channels))
    for size in hidden_sizes:
        total += size * below + size
        below = size
    return total


def image_shape(input_shape: tuple[int, ...] | list[int] | None, input_dim: int) -> tuple[int, int, int]:
    """The (C, H, W) a conv network reads, or a ConfigError when the inputs are not images."""
    shape = tuple(int(v) for v in input_shape or ())
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or math.prod(shape) != input_dim or min(shape) < 1:
        raise ConfigError(
            "conv_channels",
            f"conv layers need image inputs (channels, height, width); this benchmark's inputs have shape "
            f"{list(shape) or [input_dim]} -- leave conv_channels empty for a fully connected network",
        )
    return shape
