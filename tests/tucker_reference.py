"""Naive, materialising reference of the Tucker fusion stage (Algorithms A1, A2 and MFB), written from the
paper's definitions with no code shared with `hf_emotion.models.fusion_tucker`. Used by tests and the benchmark."""

import torch


def outer_product_tensor(audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Algorithm A1: X[n, t, i, j] = a[n, t, i] · v[n, t, j] — (batch, time, audio_dim, video_dim)."""
    return audio.unsqueeze(-1) * video.unsqueeze(-2)


def naive_tucker_core(audio, video, time_factor, audio_factor, video_factor) -> torch.Tensor:
    """Algorithm A2: G = X ×₂ U_Tᵀ ×₃ U_Aᵀ ×₄ U_Vᵀ, one n-mode product at a time on the full tensor X."""
    x = outer_product_tensor(audio, video)  # (n, t, i, j)
    x = torch.tensordot(x, time_factor, dims=([1], [0])).permute(0, 3, 1, 2)  # mode 2: (n, k, i, j)
    x = torch.tensordot(x, audio_factor, dims=([2], [0])).permute(0, 1, 3, 2)  # mode 3: (n, k, p, j)
    return torch.tensordot(x, video_factor, dims=([3], [0]))  # mode 4: (n, k, p, q)


def naive_fbp(core, audio_pool, video_pool, output_size, factor, eps=1e-8) -> torch.Tensor:
    """MFB read-out of each temporal slice G_k: SumPool_R(diag(Pᵀ G_k Q)), power + L2 norm, mean over k."""
    slices = []
    for k in range(core.shape[1]):
        bilinear = audio_pool.T @ core[:, k] @ video_pool  # (n, O*R, O*R)
        diagonal = torch.diagonal(bilinear, dim1=-2, dim2=-1)  # (n, O*R)
        z = diagonal.reshape(-1, output_size, factor).sum(-1)  # (n, O)
        z = torch.sign(z) * (torch.sqrt(z.abs() + eps) - eps**0.5)
        slices.append(z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    return torch.stack(slices, dim=1).mean(dim=1)


def naive_fusion(fusion, audio, video, bilinear_readout: bool = True) -> torch.Tensor:
    """The whole fusion stage through the materialised X and G, with the parameters of a `TuckerAVFusion`.

    `bilinear_readout=True` forms every Pᵀ G_k Q matrix and takes its diagonal (the definition, for small tests);
    `False` reads the same diagonal straight from G with one einsum (what a practitioner who materialises X and G
    would write; used by the benchmark at paper sizes)."""
    core = naive_tucker_core(audio, video, fusion.time_factor, fusion.audio_factor, fusion.video_factor)
    if bilinear_readout:
        return naive_fbp(core, fusion.audio_pool, fusion.video_pool, fusion.output_size, fusion.factor)
    z = torch.einsum("nkpq,pm,qm->nkm", core, fusion.audio_pool, fusion.video_pool)  # (n, k, O*R)
    z = z.unflatten(-1, (fusion.output_size, fusion.factor)).sum(-1)  # (n, k, O)
    z = torch.sign(z) * (torch.sqrt(z.abs() + 1e-8) - 1e-4)
    return (z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)).mean(dim=1)
