"""Speech models built with transformers from their published configs (random init, no download):
Whisper (log-mel encoder-decoder, seq2seq LM loss), wav2vec 2.0 and its Conformer variant (waveform encoders,
CTC loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import (
    adamw,
    attention_train_flops_per_token,
    check_heads,
    check_seq,
    conv1d_out_len,
    conv1d_train_flops,
    encdec_train_flops_per_sample,
    encoder_layer_matmul_params,
    set_attention,
)


def _float_inputs_like_model(model: Any, batch: dict[str, Any], key: str) -> dict[str, Any]:
    """Cast the float input to the model's parameter dtype (a bf16 capture may build the batch in fp32)."""
    dtype = next(model.parameters()).dtype
    return {**batch, key: batch[key].to(dtype)}


def _speech_loss(key: str) -> Any:
    def loss(model: Any, batch: dict[str, Any]) -> Any:
        return model(**_float_inputs_like_model(model, batch, key)).loss

    return loss


@dataclass(frozen=True, kw_only=True)
class WhisperArch:
    vocab: int
    mel_bins: int
    d: int
    ffn: int
    layers: int
    """Encoder and decoder layers each."""
    heads: int
    source_positions: int
    """Encoder positions; the log-mel input has 2x as many frames (conv2 has stride 2)."""
    target_positions: int

    def validate(self, dec_len: int) -> None:
        check_heads("whisper", self.d, self.heads)
        check_seq("whisper", dec_len, self.target_positions, what="seq (decoder tokens)")

    def flops_per_sample(self, dec_len: int) -> float:
        """Conv front end (two k=3 convs) + encoder-decoder transformer (_common.encdec_train_flops_per_sample)."""
        frames, enc = 2 * self.source_positions, self.source_positions
        conv = conv1d_train_flops(self.mel_bins, self.d, 3, frames) + conv1d_train_flops(self.d, self.d, 3, enc)
        return conv + encdec_train_flops_per_sample(
            d=self.d, inner=self.d, ffn=self.ffn, enc_layers=self.layers, dec_layers=self.layers,
            heads=self.heads, d_head=self.d // self.heads, enc_len=enc, dec_len=dec_len, vocab=self.vocab)


def whisper_builder(full: WhisperArch, tiny: WhisperArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        import transformers as tf

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate(size.seq)
        layers = 1 if reduced else a.layers
        cfg = set_attention(tf.WhisperConfig(
            vocab_size=a.vocab, num_mel_bins=a.mel_bins, d_model=a.d, encoder_layers=layers,
            decoder_layers=layers, encoder_attention_heads=a.heads, decoder_attention_heads=a.heads,
            encoder_ffn_dim=a.ffn, decoder_ffn_dim=a.ffn, max_source_positions=a.source_positions,
            max_target_positions=a.target_positions, pad_token_id=a.vocab - 1, bos_token_id=a.vocab - 2,
            eos_token_id=a.vocab - 2, decoder_start_token_id=a.vocab - 3, tie_word_embeddings=True,
        ))
        b, frames = size.batch, 2 * a.source_positions

        def make_batch() -> dict[str, Any]:
            import torch

            # a 30 s log-mel window (Whisper pads every clip to 30 s) and the target tokens
            return {"input_features": torch.randn(b, a.mel_bins, frames),
                    "labels": torch.randint(0, a.vocab - 3, (b, size.seq))}  # type: ignore[arg-type]

        stacks = ("model.encoder.layers", "model.decoder.layers")
        return Built(
            make_model=lambda: tf.WhisperForConditionalGeneration(cfg),
            make_batch=make_batch, loss=_speech_loss("input_features"), make_optimizer=adamw,
            batch=b, seq=size.seq, samples_per_step=b, tokens_per_step=b * (a.source_positions + size.seq),
            unit="sample", model_flops=b * a.flops_per_sample(size.seq),
            repeats=tuple(Repeat(module_list=s, full_to_captured=(0,) * a.layers) for s in stacks) if reduced else (),
        )

    return build


WHISPER_LARGE_V3 = WhisperArch(vocab=51866, mel_bins=128, d=1280, ffn=5120, layers=32, heads=20,
                               source_positions=1500, target_positions=448)
_TINY_WHISPER = WhisperArch(vocab=512, mel_bins=16, d=128, ffn=256, layers=2, heads=8, source_positions=32,
                            target_positions=64)

register_workload(Workload(
    name="whisper-large-v3", domain=Domain.SPEECH, library="transformers",
    description="Whisper large-v3: 128 mel bins x 3000 frames (30 s) -> 2 convs -> 32-layer encoder on 1500 "
                "positions; 32-layer decoder on 448 tokens; d=1280, 20 heads, FFN 5120, tied LM head",
    source="Radford et al. 2022 (arXiv 2212.04356) Table 1; openai/whisper-large-v3 config.json",
    build_fn=whisper_builder(WHISPER_LARGE_V3, _TINY_WHISPER),
    canonical={"full": Size(batch=8, seq=448), "tiny": Size(batch=2, seq=16)},
    published_params=1550e6, published_params_source="Radford et al. 2022 Table 1: Large 1550M",
    train_flops_per_unit=WHISPER_LARGE_V3.flops_per_sample(448),
    train_flops_source="conv front end + _common.encdec_train_flops_per_sample (1500 encoder / 448 decoder tokens)",
    supports_reduced=True, tags=("torchbench:hf_Whisper",),
))


@dataclass(frozen=True, kw_only=True)
class Wav2Vec2Arch:
    vocab: int
    d: int
    ffn: int
    layers: int
    heads: int
    conv_dim: int = 512
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    pos_kernel: int = 128
    pos_groups: int = 16

    def layer_matmul_params(self) -> int:
        """Parameters one frame meets in matmuls per encoder layer: Q, K, V, O and the MLP."""
        return encoder_layer_matmul_params(self.d, self.d, self.ffn)

    def pos_conv_flops(self, frames: int) -> float:
        """The grouped convolutional position embedding over the frames."""
        return conv1d_train_flops(self.d, self.d, self.pos_kernel, frames, groups=self.pos_groups)

    def frames(self, samples: int) -> int:
        n = samples
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = conv1d_out_len(n, k, s)
        return n

    def validate(self, samples: int) -> None:
        check_heads("wav2vec2", self.d, self.heads)
        if self.frames(samples) < 2:
            raise ValueError(f"wav2vec2: seq={samples} waveform samples give {self.frames(samples)} frames after the "
                             f"conv feature encoder; use seq >= {self._min_samples()}")

    def _min_samples(self) -> int:
        n = 400
        while self.frames(n) < 2:
            n += 80
        return n

    def flops_per_sample(self, samples: int) -> float:
        """Conv feature encoder + feature projection + grouped positional conv + encoder layers + CTC head."""
        flops, n, c_in = 0.0, samples, 1
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = conv1d_out_len(n, k, s)
            flops += conv1d_train_flops(c_in, self.conv_dim, k, n)
            c_in = self.conv_dim
        t = n
        flops += self.pos_conv_flops(t)
        mm = self.conv_dim * self.d + self.layers * self.layer_matmul_params()
        mm += self.d * self.vocab
        dh = self.d // self.heads
        return flops + t * (6.0 * mm + attention_train_flops_per_token(self.layers, t, self.heads, dh, dh))


def ctc_loss(model: Any, batch: dict[str, Any]) -> Any:
    """CTC loss of a ``*ForCTC`` model, as transformers computes it (log-softmax in fp32, blank = pad id, mean over
    target lengths, zero_infinity), with static lengths: every clip fills the batch and every transcript has
    ``labels.shape[1]`` characters. transformers' own path checks ``labels.max()`` on the host and selects the
    targets with ``masked_select``, both data-dependent under fake tensors; the kernel is the same
    ``aten::_ctc_loss`` (its fake shapes: capture/fake_impls.py)."""
    import torch.nn.functional as F

    logits = model(like_dtype(model, batch["input_values"])).logits
    labels = batch["labels"]
    b, t = logits.shape[0], logits.shape[1]
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    # int lists select aten::ctc_loss's IntArrayRef overload (no host sync); the stubs only declare Tensor
    nll = F.ctc_loss(log_probs, labels, [t] * b, [labels.shape[1]] * b,  # type: ignore[arg-type]
                     blank=model.config.pad_token_id, reduction="none", zero_infinity=True)
    return (nll / labels.shape[1]).mean()  # reduction "mean": divide by target length, average the batch


def like_dtype(model: Any, x: Any) -> Any:
    return x.to(next(model.parameters()).dtype)


def _ctc_config_kwargs(a: Wav2Vec2Arch, reduced: bool) -> dict[str, Any]:
    """Config keywords shared by Wav2Vec2Config and Wav2Vec2ConformerConfig."""
    return dict(
        vocab_size=a.vocab, hidden_size=a.d, num_hidden_layers=1 if reduced else a.layers,
        num_attention_heads=a.heads, intermediate_size=a.ffn, conv_dim=(a.conv_dim,) * len(a.conv_kernel),
        conv_kernel=a.conv_kernel, conv_stride=a.conv_stride, conv_bias=True, feat_extract_norm="layer",
        num_conv_pos_embeddings=a.pos_kernel, num_conv_pos_embedding_groups=a.pos_groups, pad_token_id=0,
        ctc_loss_reduction="mean", ctc_zero_infinity=True,
        # LayerDrop skips whole layers at random: off, so every step runs the same ops
        layerdrop=0.0,
        # SpecAugment writes the learned mask embedding through a random boolean index, whose backward is a
        # data-dependent nonzero under fake tensors; it touches 5% of frames (a memory-bound copy), so off
        mask_time_prob=0.0,
    )


def _ctc_built(a: Wav2Vec2Arch, size: Size, reduced: bool, make_model: Any, stack: str) -> Built:
    """One CTC fine-tuning step on ``size.seq`` waveform samples per clip; ``stack`` is the encoder's layer list."""
    assert size.batch is not None and size.seq is not None
    b, frames = size.batch, a.frames(size.seq)

    def make_batch() -> dict[str, Any]:
        import torch

        # raw 16 kHz waveform and a character transcript (~1 character per 4 frames = 80 ms)
        return {"input_values": torch.randn(b, size.seq),  # type: ignore[arg-type]
                "labels": torch.randint(1, a.vocab, (b, max(frames // 4, 1)))}

    return Built(
        make_model=make_model, make_batch=make_batch, loss=ctc_loss, make_optimizer=adamw,
        batch=b, seq=size.seq, samples_per_step=b, tokens_per_step=b * frames, unit="sample",
        model_flops=b * a.flops_per_sample(size.seq),
        repeats=(Repeat(module_list=stack, full_to_captured=(0,) * a.layers),) if reduced else (),
    )


def wav2vec2_builder(full: Wav2Vec2Arch, tiny: Wav2Vec2Arch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        import transformers as tf

        a = full if flavor == "full" else tiny
        assert size.seq is not None
        a.validate(size.seq)
        cfg = set_attention(tf.Wav2Vec2Config(**_ctc_config_kwargs(a, reduced), do_stable_layer_norm=True))
        return _ctc_built(a, size, reduced, lambda: tf.Wav2Vec2ForCTC(cfg), "wav2vec2.encoder.layers")

    return build


WAV2VEC2_LARGE = Wav2Vec2Arch(vocab=32, d=1024, ffn=4096, layers=24, heads=16)
_TINY_WAV2VEC2 = Wav2Vec2Arch(vocab=32, d=128, ffn=256, layers=2, heads=8, conv_dim=64, pos_kernel=16, pos_groups=4)

register_workload(Workload(
    name="wav2vec2-large", domain=Domain.SPEECH, library="transformers",
    description="wav2vec 2.0 LARGE fine-tuned with CTC: 7-layer conv feature encoder (512 ch) on the raw 16 kHz "
                "waveform, 24-layer stable-LayerNorm transformer, d=1024, 16 heads; 15 s clips (749 frames). "
                "The CTC model has no quantizer, hence 1% under the paper's 317M",
    source="Baevski et al. 2020 (arXiv 2006.11477) 4.2; facebook/wav2vec2-large-lv60 config.json",
    build_fn=wav2vec2_builder(WAV2VEC2_LARGE, _TINY_WAV2VEC2),
    canonical={"full": Size(batch=4, seq=15 * 16000), "tiny": Size(batch=2, seq=4000)},
    published_params=317e6, published_params_source="Baevski et al. 2020 4.2: LARGE 317M",
    train_flops_per_unit=WAV2VEC2_LARGE.flops_per_sample(15 * 16000),
    train_flops_source="analytic (Wav2Vec2Arch.flops_per_sample): convs and matmuls at 6 FLOPs per MAC, attention "
                       "without halving, 15 s clip",
    fake_note="CTC loss with static lengths (speech.ctc_loss) and a fake aten::_ctc_loss kernel "
              "(capture/fake_impls.py): Wav2Vec2ForCTC's own loss path is data-dependent",
    supports_reduced=True,
))


@dataclass(frozen=True, kw_only=True)
class Wav2Vec2ConformerArch(Wav2Vec2Arch):
    """wav2vec 2.0 with Conformer blocks (Gulati et al. 2020, arXiv 2005.08100): two half-step FFNs around
    self-attention and a convolution module (pointwise d -> 2d, GLU, depthwise, batch norm, pointwise d -> d)."""

    depthwise_kernel: int = 31

    def layer_matmul_params(self) -> int:
        """Two FFNs (2·2·d·ffn), Q/K/V/O (4·d²), pointwise convs (2·d² + d²) and the depthwise conv (K·d), each
        applied once per frame. Rotary embeddings rotate the layer input in place (elementwise, not counted)."""
        d = self.d
        return 4 * d * self.ffn + 4 * d * d + 3 * d * d + self.depthwise_kernel * d

    def pos_conv_flops(self, frames: int) -> float:
        """None: the Conformer encoder builds the positional conv (its weights are in the checkpoint) but never calls
        it; rotary embeddings carry position (transformers Wav2Vec2ConformerEncoder.forward, as fairseq's
        ConformerEncoder.extract_features). Its 8.4 M parameters get no gradient."""
        return 0.0


def _make_conformer(cfg: Any) -> Any:
    import transformers as tf

    model = tf.Wav2Vec2ConformerForCTC(cfg)
    # the unused positional conv (Wav2Vec2ConformerArch.pos_conv_flops) never gets a gradient, so AdamW never makes
    # state for it: frozen here, so that gradient and optimizer-state bytes count what training holds
    model.wav2vec2_conformer.encoder.pos_conv_embed.requires_grad_(False)
    return model


def wav2vec2_conformer_builder(full: Wav2Vec2ConformerArch, tiny: Wav2Vec2ConformerArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        import transformers as tf

        a = full if flavor == "full" else tiny
        assert size.seq is not None
        a.validate(size.seq)
        cfg = set_attention(tf.Wav2Vec2ConformerConfig(
            **_ctc_config_kwargs(a, reduced), hidden_act="swish", position_embeddings_type="rotary",
            rotary_embedding_base=10000, conv_depthwise_kernel_size=a.depthwise_kernel))
        return _ctc_built(a, size, reduced, lambda: _make_conformer(cfg), "wav2vec2_conformer.encoder.layers")

    return build


# facebook/wav2vec2-conformer-rope-large-960h-ft config.json: hidden_size 1024, 24 layers, 16 heads,
# intermediate_size 4096, hidden_act swish, position_embeddings_type rotary (base 10000), conv_depthwise_kernel_size
# 31, 7 feature-encoder convs of 512 channels (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2, conv_bias true,
# feat_extract_norm layer), positional conv 128 / 16 groups, vocab_size 32
W2V2_CONFORMER_LARGE = Wav2Vec2ConformerArch(vocab=32, d=1024, ffn=4096, layers=24, heads=16)
_TINY_CONFORMER = Wav2Vec2ConformerArch(vocab=32, d=128, ffn=256, layers=2, heads=8, conv_dim=64, pos_kernel=16,
                                        pos_groups=4, depthwise_kernel=15)

register_workload(Workload(
    name="wav2vec2-conformer-large", domain=Domain.SPEECH, library="transformers",
    description="wav2vec 2.0 Conformer LARGE with rotary position embeddings, fine-tuned with CTC: the wav2vec 2.0 "
                "conv feature encoder on the raw 16 kHz waveform, 24 Conformer blocks (FFN/2, RoPE self-attention, "
                "depthwise conv k=31 with batch norm, FFN/2), d=1024, 16 heads, FFN 4096, swish; 15 s clips "
                "(749 frames), 4 per GPU",
    source="Wang et al. 2020 fairseq S2T (arXiv 2010.05171, updated version, wav2vec 2.0 Conformer); "
           "facebook/wav2vec2-conformer-rope-large-960h-ft config.json (transformers Wav2Vec2ConformerConfig); "
           "4 x 15 s = 60 s of audio per GPU, within fairseq's vox_960h fine-tuning max_tokens of 1.28 M samples",
    build_fn=wav2vec2_conformer_builder(W2V2_CONFORMER_LARGE, _TINY_CONFORMER),
    canonical={"full": Size(batch=4, seq=15 * 16000), "tiny": Size(batch=2, seq=4000)},
    published_params=593e6,
    published_params_source="facebook/wav2vec2-conformer-rope-large-960h-ft: model.safetensors of 2.37 GB in fp32 "
                            "(~593 M parameters)",
    train_flops_per_unit=W2V2_CONFORMER_LARGE.flops_per_sample(15 * 16000),
    train_flops_source="analytic (Wav2Vec2ConformerArch.flops_per_sample): convs and matmuls at 6 FLOPs per MAC, "
                       "attention without halving, 15 s clip",
    fake_note="CTC loss with static lengths (speech.ctc_loss) and a fake aten::_ctc_loss kernel "
              "(capture/fake_impls.py), as wav2vec2-large",
    supports_reduced=True,
))
