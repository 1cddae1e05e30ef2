"""The fine-grained aware network FANet, omega(.) of MMNet Eq. 4-9 (Fig. 2).

omega(X) = f_c(phi_h(X), phi_p(X))  (Eq. 5): a concatenation and a 1x1 convolution of

* the holistic correlation module phi_h (Eq. 6): an encoder-decoder of "two large
  convolution kernels" and "two deconvolution layers" W gives a one-channel map whose
  sigmoid weights every position of X (broadcast over the channels, Fig. 2's ⊙):
  ``phi_h(X) = X * exp(W X) / (exp(W X) + 1)``;
* the pixel-level correlation module phi_p (Eq. 7-9), a non-local block:
  ``s_ij = softmax_j((W_q x_i) . (W_k x_j))``, ``S_p,i = sum_j s_ij W_g x_j``,
  ``phi_p(X) = X + delta S_p`` with a learned scalar delta.

The paper gives no kernel sizes or channel counts; our choices (stated where made): 7x7
convolutions of stride 2 with ``channels / holistic_reduction`` channels and ReLU, 3x3
transposed convolutions of stride 2 back to the input size (the last one to 1 channel);
W_q and W_k project to ``channels / query_reduction`` channels (the non-local block's
C/8), W_g keeps C channels; delta starts at 0 (so phi_p starts as the identity, the usual
initialisation of a learned residual scale).
"""
from __future__ import annotations

import torch
from torch import nn


class HolisticCorrelation(nn.Module):
    """phi_h of Eq. 6.

    Args:
        channels: C of the input.
        reduction: the encoder works on ``max(1, C // reduction)`` channels.
        kernel_size: side of the two "large" encoder kernels (odd).
    """

    def __init__(self, channels: int, reduction: int = 8, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 == 0 or kernel_size < 3:
            raise ValueError(f"holistic kernel_size must be odd and >= 3, got {kernel_size}")
        hidden = max(1, channels // int(reduction))
        pad = kernel_size // 2
        self.encode1 = nn.Conv2d(channels, hidden, kernel_size, stride=2, padding=pad)
        self.encode2 = nn.Conv2d(hidden, hidden, kernel_size, stride=2, padding=pad)
        self.decode1 = nn.ConvTranspose2d(hidden, hidden, 3, stride=2, padding=1)
        self.decode2 = nn.ConvTranspose2d(hidden, 1, 3, stride=2, padding=1)
        self.relu = nn.ReLU(inplace=False)

    def correlation_logits(self, x: torch.Tensor) -> torch.Tensor:
        """W X of Eq. 6: (B, C, H, W) -> (B, 1, H, W)."""
        e1 = self.relu(self.encode1(x))
        e2 = self.relu(self.encode2(e1))
        d1 = self.relu(self.decode1(e2, output_size=e1.shape[-2:]))
        return self.decode2(d1, output_size=x.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """X weighted by sigmoid(W X), broadcast over channels (Eq. 6)."""
        return x * torch.sigmoid(self.correlation_logits(x))


class PixelCorrelation(nn.Module):
    """phi_p of Eq. 7-9 (non-local block with a learned residual scale delta).

    Args:
        channels: C of the input.
        query_reduction: W_q and W_k output ``max(1, C // query_reduction)`` channels.
    """

    def __init__(self, channels: int, query_reduction: int = 8) -> None:
        super().__init__()
        inner = max(1, channels // int(query_reduction))
        self.query = nn.Conv2d(channels, inner, 1)     # W_q
        self.key = nn.Conv2d(channels, inner, 1)       # W_k
        self.value = nn.Conv2d(channels, channels, 1)  # W_g
        self.delta = nn.Parameter(torch.zeros(()))     # delta of Eq. 9

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W) = X + delta S_p."""
        batch, channels, height, width = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)          # (B, N, C')  W_q x_i
        k = self.key(x).flatten(2)                            # (B, C', N)  W_k x_j
        s = torch.softmax(torch.bmm(q, k), dim=-1)            # (B, N, N)   s_ij, Eq. 7
        g = self.value(x).flatten(2)                          # (B, C, N)   W_g x_j
        s_p = torch.bmm(g, s.transpose(1, 2))                 # (B, C, N)   Eq. 8
        return x + self.delta * s_p.reshape(batch, channels, height, width)   # Eq. 9


class FANet(nn.Module):
    """omega(X) = 1x1conv(concat(phi_h(X), phi_p(X))) (Eq. 5); keeps C channels.

    Args:
        channels: C of the input and the output.
        holistic_reduction, holistic_kernel: see :class:`HolisticCorrelation`.
        query_reduction: see :class:`PixelCorrelation`.
    """

    def __init__(self, channels: int, holistic_reduction: int = 8, holistic_kernel: int = 7,
                 query_reduction: int = 8) -> None:
        super().__init__()
        self.holistic = HolisticCorrelation(channels, holistic_reduction, holistic_kernel)
        self.pixel = PixelCorrelation(channels, query_reduction)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)     # f_c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.holistic(x), self.pixel(x)], dim=1))
