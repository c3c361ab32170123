"""Differentiable strided correlation shared by the torch modules."""

import torch


def correlate(x, filters, stride=1):
    """Valid, strided cross-correlation of every row of ``x`` with every filter.

    ``out[r, f, t] = sum_j x[r, t * stride + j] * filters[f, j]``, as
    ``torch.nn.functional.conv1d(x[:, None], filters[:, None], stride=stride)``.

    Parameters
    ----------
    x : torch.Tensor, shape (n_rows, n_samples)
    filters : torch.Tensor, shape (n_filters, kernel_size), same dtype and device
    stride : int > 0

    Returns
    -------
    torch.Tensor, shape (n_rows, n_filters, (n_samples - kernel_size) // stride + 1)
        Differentiable with respect to ``x`` and ``filters``.
    """
    # Reference implementation; the fast path replaces it.
    return torch.nn.functional.conv1d(x[:, None], filters[:, None], stride=stride)
