"""Diffusion denoisers built with diffusers from their published configs (random init, no download): the Stable
Diffusion 2 UNet, DiT-XL/2 and the FLUX.1 transformer.

Each step trains the denoiser alone on latents that are already encoded and noised, as the reference recipes do
with a frozen VAE and text encoder (diffusers examples train_text_to_image.py / train_dreambooth_flux.py; MLPerf's
stable diffusion step also runs the frozen VAE encoder and OpenCLIP text encoder forward, left out here). Loss: MSE
of the predicted noise (SD2, DiT) or of the flow-matching velocity (FLUX). Image sizes are in pixels; the VAE
downsamples 8x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw, attention_train_flops_per_token, check_heads, check_seq
from trainperf.workloads.zoo.vision import check_image, like_params

VAE_FACTOR = 8
"""Pixels per latent side of the SD/FLUX VAEs (Rombach et al. 2022, f=8)."""


def _mse(pred: Any, target: Any) -> Any:
    import torch.nn.functional as F

    return F.mse_loss(pred.float(), target.float())


# ---------------------------------------------------------------------------------------------------------------
# Stable Diffusion 2 UNet


@dataclass(frozen=True, kw_only=True)
class UNetArch:
    channels: tuple[int, ...]
    head_dims: tuple[int, ...]
    """diffusers ``attention_head_dim``: for SD2 these are head counts per block (5, 10, 20, 20 heads of 64)."""
    layers_per_block: int
    cross_dim: int
    text_len: int
    norm_groups: int = 32

    def config(self, latent: int) -> dict[str, Any]:
        n = len(self.channels)
        return dict(
            sample_size=latent, in_channels=4, out_channels=4, block_out_channels=self.channels,
            layers_per_block=self.layers_per_block, cross_attention_dim=self.cross_dim,
            attention_head_dim=self.head_dims, use_linear_projection=True, norm_num_groups=self.norm_groups,
            down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        )


# SD2 512 UNet FLOPs per sample measured (FlopCounterMode under FakeTensorMode with a CPU SDPA formula; notes Part 3):
# 2472 GF at 512², 6757 GF at 768². Convolutions and projections scale with the pixel count r², self-attention with
# r⁴; the two points fix the split (82.8% / 17.2% at 512²), so other sizes interpolate instead of scaling naively.
_SD2_GF_512, _SD2_GF_768 = 2472e9, 6757e9
_SD2_QUARTIC = (_SD2_GF_768 / _SD2_GF_512 - 2.25) / (1.5**4 - 2.25)


def sd2_flops_per_sample(image_size: int) -> float:
    r2 = (image_size / 512) ** 2
    return _SD2_GF_512 * ((1 - _SD2_QUARTIC) * r2 + _SD2_QUARTIC * r2 * r2)


def sd2_builder(full: UNetArch, tiny: UNetArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None and size.seq is not None
        down = VAE_FACTOR * 2 ** (len(a.channels) - 1)
        check_image("sd2-unet", size.image_size, down, f"VAE factor {VAE_FACTOR} x the UNet's downsampling")
        check_seq("sd2-unet", size.seq, a.text_len, what="seq (text tokens)")
        b, latent, seq = size.batch, size.image_size // VAE_FACTOR, size.seq
        cfg = a.config(latent)

        def make_model() -> Any:
            from diffusers import UNet2DConditionModel

            return UNet2DConditionModel(**cfg)

        def make_batch() -> dict[str, Any]:
            import torch

            return {"noisy_latents": torch.randn(b, 4, latent, latent), "noise": torch.randn(b, 4, latent, latent),
                    "timesteps": torch.randint(0, 1000, (b,)), "text": torch.randn(b, seq, a.cross_dim)}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            pred = model(like_params(model, batch["noisy_latents"]), batch["timesteps"],
                         encoder_hidden_states=like_params(model, batch["text"])).sample
            return _mse(pred, batch["noise"])

        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=adamw, batch=b, seq=seq,
            samples_per_step=b, tokens_per_step=b * latent * latent, unit="sample",
            model_flops=b * sd2_flops_per_sample(size.image_size) if flavor == "full" else 0.0,
        )

    return build


SD2_UNET = UNetArch(channels=(320, 640, 1280, 1280), head_dims=(5, 10, 20, 20), layers_per_block=2, cross_dim=1024,
                    text_len=77)
register_workload(Workload(
    name="sd2-unet", domain=Domain.DIFFUSION, library="diffusers",
    description="Stable Diffusion 2 UNet (865.9M): blocks 320-640-1280-1280, 2 ResNet layers per block, linear-"
                "projection transformers with 64-dim heads, cross-attention to 77 OpenCLIP-H tokens (1024-d); 512² "
                "(64² latents); epsilon-prediction MSE",
    source="stabilityai/stable-diffusion-2-base unet/config.json; Rombach et al. 2022 (arXiv 2112.10752); MLPerf "
           "Training stable_diffusion",
    build_fn=sd2_builder(SD2_UNET, UNetArch(channels=(32, 32, 64, 64), head_dims=(2, 2, 4, 4), layers_per_block=1,
                                            cross_dim=32, text_len=77, norm_groups=8)),
    # MLPerf stable diffusion: global batch 512 (8 per GPU on 64 GPUs)
    canonical={"full": Size(batch=8, image_size=512, seq=77), "tiny": Size(batch=2, image_size=64, seq=8)},
    published_params=865.9e6,
    published_params_source="stabilityai/stable-diffusion-2-base unet safetensors: 865,910,724 parameters",
    train_flops_per_unit=sd2_flops_per_sample(512),
    train_flops_source="notes Part 3: 2472 GF/sample at 512² measured (FlopCounterMode + CPU SDPA formula)",
    tags=("mlperf:stable_diffusion",),
))


# ---------------------------------------------------------------------------------------------------------------
# DiT-XL/2


@dataclass(frozen=True, kw_only=True)
class DiTArch:
    hidden: int
    heads: int
    layers: int
    patch: int
    classes: int = 1000
    latent_channels: int = 4
    freq_dim: int = 256
    """Sinusoidal timestep features fed to the timestep MLP (Peebles & Xie, 3.2)."""

    def validate(self, image_size: int) -> None:
        check_heads("dit", self.hidden, self.heads)
        check_image("dit", image_size, VAE_FACTOR * self.patch, f"VAE factor {VAE_FACTOR} x patch {self.patch}")

    def tokens(self, image_size: int) -> int:
        return (image_size // VAE_FACTOR // self.patch) ** 2

    def per_block_embedder_params(self) -> int:
        """diffusers gives every block its own timestep MLP and class table (AdaLayerNormZero with
        CombinedTimestepLabelEmbeddings); the paper shares one. This is one copy."""
        d = self.hidden
        return self.freq_dim * d + d + d * d + d + (self.classes + 1) * d

    def flops_per_sample(self, image_size: int) -> float:
        """fwd+bwd model FLOPs: 12·d² matmul params per token per block (QKV, out, 4x MLP), patch embedding and
        the final projection per token, the adaLN conditioning per sample (shared embedder, as in the paper),
        attention products. = the paper's 118.6 Gflops (multiply-adds) x 6 within 0.5% (tests)."""
        d, t, p2 = self.hidden, self.tokens(image_size), self.patch**2
        per_token = self.layers * 12 * d * d + p2 * self.latent_channels * d + d * p2 * 2 * self.latent_channels
        per_sample = self.layers * 6 * d * d + 2 * d * d + self.freq_dim * d + d * d
        dh = d // self.heads
        return 6.0 * (t * per_token + per_sample) + t * attention_train_flops_per_token(self.layers, t, self.heads,
                                                                                        dh, dh)


def dit_builder(full: DiTArch, tiny: DiTArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        a.validate(size.image_size)
        b, latent = size.batch, size.image_size // VAE_FACTOR
        c = a.latent_channels
        kwargs = dict(num_attention_heads=a.heads, attention_head_dim=a.hidden // a.heads, in_channels=c,
                      out_channels=2 * c, num_layers=1 if reduced else a.layers, sample_size=latent,
                      patch_size=a.patch, num_embeds_ada_norm=a.classes)

        def make_model() -> Any:
            from diffusers import DiTTransformer2DModel

            return DiTTransformer2DModel(**kwargs)

        def make_batch() -> dict[str, Any]:
            import torch

            return {"noisy_latents": torch.randn(b, c, latent, latent), "noise": torch.randn(b, c, latent, latent),
                    "timesteps": torch.randint(0, 1000, (b,)), "class_labels": torch.randint(0, a.classes, (b,))}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            out = model(like_params(model, batch["noisy_latents"]), timestep=batch["timesteps"],
                        class_labels=batch["class_labels"]).sample
            # the paper also trains the predicted variance (second half of the channels) with the VLB term
            # (Nichol & Dhariwal 2021); the simple epsilon MSE alone is what dominates the step
            return _mse(out[:, :c], batch["noise"])

        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=dit_adamw, batch=b,
            seq=a.tokens(size.image_size), samples_per_step=b, tokens_per_step=b * a.tokens(size.image_size),
            unit="sample", model_flops=b * a.flops_per_sample(size.image_size),
            repeats=(Repeat(module_list="transformer_blocks", full_to_captured=(0,) * a.layers),) if reduced else (),
        )

    return build


def dit_adamw(params: Any) -> Any:
    """AdamW, lr 1e-4, no weight decay: the DiT recipe (Peebles & Xie 2023, 4)."""
    return adamw(params, lr=1e-4, weight_decay=0.0)


DIT_XL2 = DiTArch(hidden=1152, heads=16, layers=28, patch=2)
register_workload(Workload(
    name="dit-xl2", domain=Domain.DIFFUSION, library="diffusers",
    description="DiT-XL/2 class-conditional latent diffusion transformer: 28 blocks, d=1152, 16 heads, patch 2, "
                "adaLN-Zero; 256² (32² latents, 256 tokens). diffusers gives each block its own timestep/class "
                "embedder (749.8M built vs the paper's 675M)",
    source="Peebles & Xie 2023 (arXiv 2212.09748) Table 1, 4; facebook/DiT-XL-2-256 transformer config",
    build_fn=dit_builder(DIT_XL2, DiTArch(hidden=64, heads=4, layers=2, patch=2, classes=10)),
    # DiT: global batch 256 (4); 32 per GPU on 8 GPUs
    canonical={"full": Size(batch=32, image_size=256), "tiny": Size(batch=2, image_size=32)},
    published_params=675e6,
    published_params_source="Peebles & Xie 2023 Table 4: 675M with one shared timestep/class embedder; diffusers "
                            "DiTTransformer2DModel repeats that embedder in each of the 28 blocks (+27 x 2.78M = "
                            "749.8M built; the test checks that the difference is exactly those copies)",
    params_tolerance=0.12,
    train_flops_per_unit=DIT_XL2.flops_per_sample(256),
    train_flops_source="analytic (DiTArch.flops_per_sample) = Peebles & Xie Table 4 118.6 Gflops (multiply-adds) x 6 "
                       "within 0.5%",
    supports_reduced=True,
))


# ---------------------------------------------------------------------------------------------------------------
# FLUX.1 transformer (MM-DiT)


@dataclass(frozen=True, kw_only=True)
class FluxArch:
    double: int
    single: int
    heads: int
    head_dim: int
    rope_axes: tuple[int, int, int]
    text_dim: int
    pooled_dim: int
    in_channels: int = 64
    """16 latent channels packed 2x2."""

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim

    def validate(self, image_size: int, text_len: int) -> None:
        if sum(self.rope_axes) != self.head_dim:
            raise ValueError(f"flux: rope axes {self.rope_axes} sum to {sum(self.rope_axes)}, not head_dim "
                             f"{self.head_dim}")
        check_image("flux", image_size, 2 * VAE_FACTOR, f"VAE factor {VAE_FACTOR} x the 2x2 latent packing")
        check_seq("flux", text_len, 512, what="seq (T5 text tokens)")

    def image_tokens(self, image_size: int) -> int:
        return (image_size // (2 * VAE_FACTOR)) ** 2

    def flops_per_sample(self, image_size: int, text_len: int) -> float:
        """fwd+bwd model FLOPs: every block (double: per stream QKV+out+4x MLP; single: QKV + fused MLP-in + fused
        out, both 12·d² per token) on all image+text tokens, joint attention over them, the input/output
        projections; per-sample conditioning embedders and modulations are < 0.1% and left out."""
        d, ti = self.hidden, self.image_tokens(image_size)
        t = ti + text_len
        mm = t * (self.double + self.single) * 12 * d * d + ti * 2 * self.in_channels * d + text_len * self.text_dim * d
        return 6.0 * mm + t * attention_train_flops_per_token(self.double + self.single, t, self.heads,
                                                              self.head_dim, self.head_dim)


def flux_builder(full: FluxArch, tiny: FluxArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None and size.seq is not None
        a.validate(size.image_size, size.seq)
        b, seq, side = size.batch, size.seq, size.image_size // (2 * VAE_FACTOR)
        ti = side * side
        kwargs = dict(patch_size=1, in_channels=a.in_channels, num_layers=1 if reduced else a.double,
                      num_single_layers=1 if reduced else a.single, attention_head_dim=a.head_dim,
                      num_attention_heads=a.heads, joint_attention_dim=a.text_dim, pooled_projection_dim=a.pooled_dim,
                      guidance_embeds=True, axes_dims_rope=a.rope_axes)

        def make_model() -> Any:
            from diffusers import FluxTransformer2DModel

            return FluxTransformer2DModel(**kwargs)

        def make_batch() -> dict[str, Any]:
            import torch

            # position ids as the FLUX pipeline builds them: (0, row, col) per packed latent, zeros for text
            rows = torch.arange(side).repeat_interleave(side)
            img_ids = torch.stack([torch.zeros(ti), rows.to(torch.get_default_dtype()),
                                   torch.arange(side).repeat(side).to(torch.get_default_dtype())], dim=1)
            return {"x0": torch.randn(b, ti, a.in_channels), "noise": torch.randn(b, ti, a.in_channels),
                    "t": torch.rand(b), "text": torch.randn(b, seq, a.text_dim), "pooled": torch.randn(b, a.pooled_dim),
                    "img_ids": img_ids, "txt_ids": torch.zeros(seq, 3), "guidance": torch.full((b,), 3.5)}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            # rectified flow: x_t = (1 - t)·x0 + t·noise, the model predicts the velocity noise - x0
            t = batch["t"].view(-1, 1, 1)
            x_t = (1 - t) * batch["x0"] + t * batch["noise"]
            pred = model(hidden_states=like_params(model, x_t), encoder_hidden_states=like_params(model, batch["text"]),
                         pooled_projections=like_params(model, batch["pooled"]), timestep=batch["t"],
                         img_ids=batch["img_ids"], txt_ids=batch["txt_ids"], guidance=batch["guidance"]).sample
            return _mse(pred, batch["noise"] - batch["x0"])

        stacks = (("transformer_blocks", a.double), ("single_transformer_blocks", a.single))
        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=adamw, batch=b, seq=seq,
            samples_per_step=b, tokens_per_step=b * (ti + seq), unit="sample",
            model_flops=b * a.flops_per_sample(size.image_size, seq),
            repeats=tuple(Repeat(module_list=m, full_to_captured=(0,) * n) for m, n in stacks) if reduced else (),
        )

    return build


FLUX1 = FluxArch(double=19, single=38, heads=24, head_dim=128, rope_axes=(16, 56, 56), text_dim=4096, pooled_dim=768)
register_workload(Workload(
    name="flux1-transformer", domain=Domain.DIFFUSION, library="diffusers",
    description="FLUX.1 [dev] MM-DiT: 19 double-stream + 38 single-stream blocks, d=3072 (24 heads of 128), 3-axis "
                "RoPE, guidance embedding; 1024² -> 4096 image tokens + 512 T5 tokens; flow-matching MSE",
    source="black-forest-labs/FLUX.1-dev transformer/config.json; Esser et al. 2024 (arXiv 2403.03206) MM-DiT",
    build_fn=flux_builder(FLUX1, FluxArch(double=2, single=2, heads=2, head_dim=16, rope_axes=(4, 6, 6), text_dim=32,
                                          pooled_dim=16)),
    canonical={"full": Size(batch=1, image_size=1024, seq=512), "tiny": Size(batch=2, image_size=64, seq=8)},
    published_params=12e9, published_params_source="black-forest-labs FLUX.1 model card: 12 billion parameters "
                                                    "(11,901,408,320 in the released transformer)",
    train_flops_per_unit=FLUX1.flops_per_sample(1024, 512),
    train_flops_source="analytic (FluxArch.flops_per_sample): 6·12·d²·57 blocks·4608 tokens + joint attention; "
                       "notes Part 3 measured 230.6 TF/sample",
    supports_reduced=True, tags=("mlperf:flux",),
))
