"""Video and 2025 image diffusion transformers built with diffusers from their published configs (random init, no
download): Wan 2.1 T2V 1.3B and 14B, HunyuanVideo 13B and Stable Diffusion 3.5 Large (MM-DiT).

As in diffusion.py, a step trains the denoiser alone on latents that are already VAE-encoded and noised and on text
embeddings that are already computed (the frozen VAE and text encoders run once per sample, outside the trained
step: Wan's train scripts and diffusers' train_dreambooth_lora_sd3.py cache or run them under no_grad). Loss: MSE
of the rectified-flow velocity (noise - latents), the objective of all four (Wan arXiv 2503.20314 2.3;
HunyuanVideo arXiv 2412.03603 4.2; SD3 arXiv 2403.03206 2).

Sizes: ``image_size`` is the frame height in pixels (the width follows the recipe's aspect ratio), ``seq`` is the
number of text tokens; the number of frames is fixed per recipe. The video VAEs compress 4x in time (first frame
kept: 1 + (F - 1)/4 latent frames) and 8x in space (Wan-VAE and HunyuanVideo's causal 3D VAE, 16 channels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw, attention_train_flops_per_token, check_seq
from trainperf.workloads.zoo.vision import like_params

T_DOWN, S_DOWN, LATENT_CH = 4, 8, 16
"""Video VAE compression: 4x frames, 8x pixels per side, 16 latent channels (Wan arXiv 2503.20314 3.1; HunyuanVideo
arXiv 2412.03603 3.1; SD3's VAE is 8x, 16 channels, arXiv 2403.03206 5.2.1)."""


@dataclass(frozen=True, kw_only=True)
class VideoArch:
    kind: str
    """"wan", "hunyuan" or "sd3": which diffusers class and forward signature."""
    kwargs: dict[str, Any]
    frames: int
    """Pixel frames per clip (1 for an image model)."""
    aspect: float
    """Width / height of the canonical resolution."""
    patch: tuple[int, int]
    """(temporal, spatial) patch of the transformer's patch embedding."""
    text_dim: int
    text_max: int
    pooled_dim: int = 0
    stacks: tuple[str, ...] = ()
    """ModuleLists of identical blocks (reduced builds keep one block of each)."""
    depths: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def latent(self, height: int) -> tuple[int, int, int]:
        f = 1 if self.frames == 1 else 1 + (self.frames - 1) // T_DOWN
        div = S_DOWN * self.patch[1]
        if height < div or height % div:
            raise ValueError(f"{self.kind}: image_size={height} (frame height) is not a multiple of {div} (VAE "
                             f"factor {S_DOWN} x patch {self.patch[1]}); use e.g. {max(div, height // div * div)}")
        width = int(height * self.aspect) // div * div
        return f, height // S_DOWN, width // S_DOWN

    def tokens(self, height: int) -> int:
        f, h, w = self.latent(height)
        return (f // self.patch[0]) * (h // self.patch[1]) * (w // self.patch[1])


def wan_flops_per_sample(kw: dict[str, Any], tokens: int, text: int) -> float:
    """Wan block (diffusers WanTransformerBlock): self-attention Q/K/V/O (4·d²) and FFN (2·d·ffn) on the video
    tokens, cross-attention Q/O (2·d²) on the video tokens and K/V (2·d²) on the text tokens; attention products
    self (S_kv = video tokens) and cross (S_kv = text tokens), _common.attention_train_flops_per_token. Plus the
    patch embedding (16·1·2·2 -> d) and the output projection (d -> 64) per token and the text embedder
    (4096 -> d -> d) per text token. 6 FLOPs per multiply-add and parameter (fwd+bwd); timestep MLPs excluded."""
    h, dh, L, ffn = kw["num_attention_heads"], kw["attention_head_dim"], kw["num_layers"], kw["ffn_dim"]
    d = h * dh
    p = kw["patch_size"][0] * kw["patch_size"][1] * kw["patch_size"][2] * kw["in_channels"]
    per_video_token = L * (6 * d * d + 2 * d * ffn) + 2 * p * d
    per_text_token = L * 2 * d * d + kw["text_dim"] * d + d * d
    attn = tokens * (attention_train_flops_per_token(L, tokens, h, dh, dh)
                     + attention_train_flops_per_token(L, text, h, dh, dh))
    return 6.0 * (tokens * per_video_token + text * per_text_token) + attn


def _model(a: VideoArch, layers: dict[str, int]) -> Any:
    import diffusers

    kw = {**a.kwargs, **layers}
    if a.kind == "wan":
        return diffusers.WanTransformer3DModel(**kw)
    if a.kind == "hunyuan":
        return diffusers.HunyuanVideoTransformer3DModel(**kw)
    return diffusers.SD3Transformer2DModel(**kw)


_LAYER_KEYS = {"wan": ("num_layers",), "hunyuan": ("num_layers", "num_single_layers"), "sd3": ("num_layers",)}


def video_builder(name: str, full: VideoArch, tiny: VideoArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None and size.seq is not None
        check_seq(name, size.seq, a.text_max, what="seq (text tokens)")
        f, h, w = a.latent(size.image_size)
        b, text, tokens = size.batch, size.seq, a.tokens(size.image_size)
        keys = _LAYER_KEYS[a.kind]
        layers = {k: 1 for k in keys} if reduced else {}

        def make_batch() -> dict[str, Any]:
            import torch

            shape = (b, LATENT_CH, f, h, w) if a.kind != "sd3" else (b, LATENT_CH, h, w)
            out = {"noisy": torch.randn(shape), "target": torch.randn(shape), "timesteps": torch.randint(0, 1000, (b,)),
                   "text": torch.randn(b, text, a.text_dim)}
            if a.pooled_dim:
                out["pooled"] = torch.randn(b, a.pooled_dim)
            return out

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            import torch
            import torch.nn.functional as F

            x, txt = like_params(model, batch["noisy"]), like_params(model, batch["text"])
            if a.kind == "wan":
                pred = model(x, batch["timesteps"], txt).sample
            elif a.kind == "hunyuan":
                # embedded guidance (HunyuanVideo's distilled CFG scale, 6.0 at inference); an all-valid text mask
                pred = model(x, batch["timesteps"], txt, torch.ones(b, text, dtype=torch.bool),
                             like_params(model, batch["pooled"]),
                             guidance=torch.full((b,), 6000.0, dtype=x.dtype)).sample
            else:
                pred = model(x, encoder_hidden_states=txt, pooled_projections=like_params(model, batch["pooled"]),
                             timestep=batch["timesteps"]).sample
            return F.mse_loss(pred.float(), batch["target"].float())

        flops = b * wan_flops_per_sample(a.kwargs, tokens, text) if a.kind == "wan" else 0.0
        repeats = tuple(Repeat(module_list=s, full_to_captured=(0,) * n)
                        for s, n in zip(a.stacks, a.depths, strict=True)) if reduced else ()
        return Built(
            make_model=lambda: _model(a, layers), make_batch=make_batch, loss=loss, make_optimizer=adamw, batch=b,
            seq=tokens, samples_per_step=b, tokens_per_step=b * tokens, unit="sample",
            model_flops=flops if flavor == "full" else 0.0, repeats=repeats,
        )

    return build


def _wan(heads: int, ffn: int, layers: int, head_dim: int = 128, text_dim: int = 4096) -> dict[str, Any]:
    # diffusers Wan-AI/Wan2.1-T2V-*-Diffusers transformer/config.json
    return dict(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=LATENT_CH,
                out_channels=LATENT_CH, text_dim=text_dim, freq_dim=256, ffn_dim=ffn, num_layers=layers,
                cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)


_WAN_TINY = VideoArch(kind="wan", kwargs=_wan(2, 64, 2, head_dim=24, text_dim=32), frames=5, aspect=1.0,
                      patch=(1, 2), text_dim=32, text_max=512, stacks=("blocks",), depths=(2,))
_WAN_SRC = ("Wan team 2025 (arXiv 2503.20314) Table 1 (1.3B: d 1536, FFN 8960, 12 heads, 30 layers; 14B: d 5120, "
            "FFN 13824, 40 heads, 40 layers); Wan-AI/Wan2.1-T2V-*-Diffusers transformer/config.json")
for _name, _kw, _h, _aspect, _params, _psrc in [
    ("wan2.1-t2v-1.3b", _wan(12, 8960, 30), 480, 832 / 480, 1.42e9,
     "Wan-AI/Wan2.1-T2V-1.3B: the bf16 transformer is 2.84 GB = 1.42B parameters (the name rounds to 1.3B)"),
    ("wan2.1-t2v-14b", _wan(40, 13824, 40), 720, 1280 / 720, 14e9, "Wan team 2025: 14B"),
]:
    _arch = VideoArch(kind="wan", kwargs=_kw, frames=81, aspect=_aspect, patch=(1, 2), text_dim=4096, text_max=512,
                      stacks=("blocks",), depths=(_kw["num_layers"],))
    _tok = _arch.tokens(_h)
    register_workload(Workload(
        name=_name, domain=Domain.DIFFUSION, library="diffusers",
        description=f"Wan 2.1 text-to-video DiT ({_name.split('-')[-1].upper()}): {_kw['num_layers']} blocks of "
                    f"self-attention (3D RoPE, full attention over {_tok} video tokens = 81 frames at "
                    f"{int(_h * _aspect)}x{_h}), cross-attention to 512 umT5 tokens, FFN {_kw['ffn_dim']}; flow "
                    f"matching. Wan 2.2's 14B experts (high/low noise) have this architecture",
        source=_WAN_SRC, build_fn=video_builder(_name, _arch, _WAN_TINY),
        # one 81-frame clip per GPU (Wan trains with sequence parallelism over the video tokens)
        canonical={"full": Size(batch=1, image_size=_h, seq=512), "tiny": Size(batch=1, image_size=32, seq=8)},
        published_params=_params, published_params_source=_psrc, params_tolerance=0.03,
        train_flops_per_unit=wan_flops_per_sample(_kw, _tok, 512),
        train_flops_source="analytic (video.wan_flops_per_sample): block matmuls at 6 FLOPs per parameter and "
                           "token, self and cross attention without halving",
        supports_reduced=True, tags=("video",),
    ))

HUNYUAN = VideoArch(
    kind="hunyuan", frames=129, aspect=960 / 544, patch=(1, 2), text_dim=4096, text_max=256, pooled_dim=768,
    # HunyuanVideo-Diffusers transformer/config.json (= the diffusers defaults): 20 dual-stream + 40 single-stream
    # blocks, 24 heads x 128, token refiner 2 layers
    kwargs=dict(in_channels=16, out_channels=16, num_attention_heads=24, attention_head_dim=128, num_layers=20,
                num_single_layers=40, num_refiner_layers=2, mlp_ratio=4.0, patch_size=2, patch_size_t=1,
                qk_norm="rms_norm", guidance_embeds=True, text_embed_dim=4096, pooled_projection_dim=768,
                rope_theta=256.0, rope_axes_dim=(16, 56, 56)),
    stacks=("transformer_blocks", "single_transformer_blocks"), depths=(20, 40))
_HUNYUAN_TINY = VideoArch(
    kind="hunyuan", frames=5, aspect=1.0, patch=(1, 2), text_dim=32, text_max=256, pooled_dim=16,
    kwargs=dict(in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=16, num_layers=2,
                num_single_layers=2, num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1,
                qk_norm="rms_norm", guidance_embeds=True, text_embed_dim=32, pooled_projection_dim=16,
                rope_theta=256.0, rope_axes_dim=(4, 6, 6)),
    stacks=("transformer_blocks", "single_transformer_blocks"), depths=(2, 2))
register_workload(Workload(
    name="hunyuanvideo", domain=Domain.DIFFUSION, library="diffusers",
    description=f"HunyuanVideo 13B: 20 dual-stream + 40 single-stream MM-DiT blocks (d 3072, 24 heads), full 3D "
                f"attention over {HUNYUAN.tokens(544)} video tokens (129 frames at 960x544) + 256 text tokens "
                f"(MLLM, 4096-d), CLIP pooled vector, embedded guidance; flow matching",
    source="Kong et al. 2024 (arXiv 2412.03603) 4.1 and Table 2; hunyuanvideo-community/HunyuanVideo "
           "transformer/config.json",
    build_fn=video_builder("hunyuanvideo", HUNYUAN, _HUNYUAN_TINY),
    # 129 frames at 544p is the paper's highest-resolution training stage (4.2, progressive video training)
    canonical={"full": Size(batch=1, image_size=544, seq=256), "tiny": Size(batch=1, image_size=32, seq=8)},
    published_params=13e9, published_params_source="Kong et al. 2024 abstract: over 13 billion parameters",
    params_tolerance=0.02, supports_reduced=True, tags=("video",),
))

SD35_LARGE = VideoArch(
    kind="sd3", frames=1, aspect=1.0, patch=(1, 2), text_dim=4096, text_max=333, pooled_dim=2048,
    # stabilityai/stable-diffusion-3.5-large transformer/config.json
    kwargs=dict(sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64,
                num_attention_heads=38, joint_attention_dim=4096, caption_projection_dim=2432,
                pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192, qk_norm="rms_norm"),
    stacks=("transformer_blocks",), depths=(38,))
_SD3_TINY = VideoArch(
    kind="sd3", frames=1, aspect=1.0, patch=(1, 2), text_dim=32, text_max=333, pooled_dim=16,
    kwargs=dict(sample_size=8, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=16,
                num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=16,
                out_channels=16, pos_embed_max_size=16, qk_norm="rms_norm"),
    stacks=("transformer_blocks",), depths=(2,))
register_workload(Workload(
    name="sd3.5-large", domain=Domain.DIFFUSION, library="diffusers",
    description="Stable Diffusion 3.5 Large MM-DiT: 38 joint blocks (d 2432, 38 heads x 64, QK RMSNorm), 1024² "
                "(4096 image tokens) + 333 text tokens (77 CLIP + 256 T5-XXL, 4096-d), pooled 2048; flow matching",
    source="Esser et al. 2024 (arXiv 2403.03206); stabilityai/stable-diffusion-3.5-large transformer/config.json",
    build_fn=video_builder("sd3.5-large", SD35_LARGE, _SD3_TINY),
    canonical={"full": Size(batch=4, image_size=1024, seq=333), "tiny": Size(batch=1, image_size=32, seq=8)},
    published_params=8.1e9, published_params_source="Stability AI SD3.5 release: Large, 8.1 billion parameters",
    # the last joint block is context_pre_only (no text FFN), so blocks are not all alike: capture at full depth
    supports_reduced=False,
))
