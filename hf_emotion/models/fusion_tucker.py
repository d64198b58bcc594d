"""Tucker-decomposed outer-product fusion and factorized bilinear pooling (the `tucker_av` fusion stage).

The paper (Algorithms A1, A2) builds, per sample, the outer-product tensor X[t, i, j] = a[t, i] · v[t, j] of the
time-aligned refined audio and video sequences (T × Da × Dv) and compresses it with learnable Tucker factors:

    G = X ×₂ U_Tᵀ ×₃ U_Aᵀ ×₄ U_Vᵀ          G[k, p, q] = Σ_t U_T[t, k] · (a_t U_A)[p] · (v_t U_V)[q]

so G only needs the projected factors ã = a·U_A and ṽ = v·U_V; X is never formed (at the paper's sizes X would be
N × 60 × 256 × 256, 2 GB at N = 128).

Factorized bilinear pooling (MFB, Yu et al. 2017) reads each temporal slice G_k (Ka × Kv) as a bilinear
audio×video interaction with factors P (Ka × O·R) and Q (Kv × O·R):

    z_k[o] = Σ_r (Pᵀ G_k Q)[(o, r), (o, r)] = Σ_r Σ_t U_T[t, k] · (ã_t P)[o, r] · (ṽ_t Q)[o, r]

i.e. U_Tᵀ((ã P) ⊙ (ṽ Q)) sum-pooled over r — again without forming G. Each z_k is power-normalised (signed
square root) and L2-normalised, and the fused vector is the mean over k. The normalisation is non-linear per
slice, so every mode of the core (time included) shapes the output.

Initialisation of U_T (SPEC §1). For an interaction that is constant in time, z_k = c_k · g with
c_k = Σ_t U_T[t, k], so after the per-slice normalisation the fused vector is mean_k sign(c_k) · ĝ: with the
random column signs of a plain orthogonal initialisation the clip-level part of the interaction nearly cancels
(a T × K orthonormal U_T has about as many negative as positive column sums). :meth:`TuckerAVFusion.reset_parameters`
keeps U_T orthonormal but flips each column so that its sum is positive: every slice then keeps the clip-level
component and a constant interaction reaches the fused vector with norm 1.
"""

from __future__ import annotations

import torch
from torch import nn


def tucker_core(
    audio: torch.Tensor,
    video: torch.Tensor,
    time_factor: torch.Tensor,
    audio_factor: torch.Tensor,
    video_factor: torch.Tensor,
) -> torch.Tensor:
    """The Tucker core G of the outer-product tensor of `audio` and `video`, computed from projected factors.

    Args:
        audio: (batch, time, audio_dim); video: (batch, time, video_dim);
        time_factor U_T: (time, time_rank); audio_factor U_A: (audio_dim, audio_rank);
        video_factor U_V: (video_dim, video_rank).

    Returns:
        (batch, time_rank, audio_rank, video_rank)
    """
    projected_audio = audio @ audio_factor  # (batch, time, audio_rank)
    projected_video = video @ video_factor  # (batch, time, video_rank)
    return torch.einsum("tk,nti,ntj->nkij", time_factor, projected_audio, projected_video)


def signed_sqrt(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Power normalisation sign(x)·√|x|, shifted so that it is 0 at 0 with a finite gradient there."""
    return torch.sign(x) * (torch.sqrt(x.abs() + eps) - eps**0.5)


class TuckerAVFusion(nn.Module):
    """Tucker core + factorized bilinear pooling of two time-aligned sequences.

    Args:
        num_time_steps (`int`): T, the aligned sequence length.
        hidden_size (`int`): feature size of both refined sequences.
        time_rank, audio_rank, video_rank (`int`): Tucker ranks (K_time, K_audio, K_video).
        output_size (`int`): O, the fused vector size.
        factor (`int`): R, the MFB factor that is sum-pooled.
        dropout (`float`): dropout on the MFB interaction before pooling.

    Initialisation (:meth:`reset_parameters`): U_T orthonormal with every column's sum positive (see the module
    docstring); U_A, U_V, P and Q normal with std 1/√fan_in (fan_in = their first dimension), which keeps the
    size of the projected features; the model's `initializer_range` is not used here (the read-out is
    normalised per slice, so only the factors' directions and relative sizes matter).
    """

    def __init__(
        self,
        num_time_steps: int,
        hidden_size: int,
        time_rank: int,
        audio_rank: int,
        video_rank: int,
        output_size: int,
        factor: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.output_size = output_size
        self.factor = factor
        self.time_factor = nn.Parameter(torch.empty(num_time_steps, time_rank))  # U_T
        self.audio_factor = nn.Parameter(torch.empty(hidden_size, audio_rank))  # U_A
        self.video_factor = nn.Parameter(torch.empty(hidden_size, video_rank))  # U_V
        self.audio_pool = nn.Parameter(torch.empty(audio_rank, output_size * factor))  # P
        self.video_pool = nn.Parameter(torch.empty(video_rank, output_size * factor))  # Q
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # U_T starts with orthonormal columns (distinct temporal components that each mix all time steps), each
        # flipped to a positive sum so that no slice cancels the clip-level interaction (module docstring).
        nn.init.orthogonal_(self.time_factor)
        signs = torch.where(self.time_factor.sum(dim=0) < 0, -1.0, 1.0)  # (time_rank,)
        self.time_factor.mul_(signs)
        for factor in (self.audio_factor, self.video_factor):
            nn.init.normal_(factor, std=factor.shape[0] ** -0.5)
        for pool in (self.audio_pool, self.video_pool):
            nn.init.normal_(pool, std=pool.shape[0] ** -0.5)

    def core(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """The Tucker core G: (batch, time_rank, audio_rank, video_rank)."""
        return tucker_core(audio, video, self.time_factor, self.audio_factor, self.video_factor)

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Fuse (batch, time, hidden) audio and video into (batch, output_size)."""
        pooled_audio = (audio @ self.audio_factor) @ self.audio_pool  # (batch, time, output * factor)
        pooled_video = (video @ self.video_factor) @ self.video_pool  # (batch, time, output * factor)
        interaction = self.dropout(pooled_audio * pooled_video)
        # Sum pooling over r and the temporal contraction with U_T are both linear: pool first, it is 4x smaller.
        interaction = interaction.unflatten(-1, (self.output_size, self.factor)).sum(
            -1
        )  # (batch, time, output)
        per_slice = torch.einsum("tk,nto->nko", self.time_factor, interaction)  # (batch, time_rank, output)
        per_slice = nn.functional.normalize(signed_sqrt(per_slice), dim=-1)
        return per_slice.mean(dim=1)  # (batch, output)


__all__ = ["TuckerAVFusion", "tucker_core", "signed_sqrt"]
