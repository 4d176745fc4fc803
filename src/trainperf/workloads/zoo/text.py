"""Text encoders (BERT, ModernBERT; masked-LM loss) and encoder-decoders (T5, BART; seq2seq LM loss), built
with transformers from their published configs (random init, no download)."""

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
    encdec_train_flops_per_sample,
    encoder_layer_matmul_params,
    hf_loss,
    mlm_batch,
    set_attention,
    shortened,
    token_batch,
)


@dataclass(frozen=True, kw_only=True)
class EncoderArch:
    family: str
    """bert (post-LN, learned positions) | modernbert (pre-LN, RoPE, GeGLU, local/global attention)."""
    vocab: int
    hidden: int
    ffn: int
    layers: int
    heads: int
    positions: int
    global_every: int = 1
    """modernbert: layer i attends globally when i % global_every == 0, locally (``window`` keys) otherwise."""
    window: int = 0

    def validate(self, seq: int) -> None:
        check_heads(self.family, self.hidden, self.heads)
        check_seq(self.family, seq, self.positions)

    def layer_types(self, layers: int) -> list[str]:
        return ["full_attention" if i % self.global_every == 0 else "sliding_attention" for i in range(layers)]

    def flops_per_token(self, seq: int) -> float:
        """6·N_matmul (layers, MLM head transform d² and decoder V·d on every position) + attention."""
        gated = self.family == "modernbert"
        mm = self.layers * encoder_layer_matmul_params(self.hidden, self.hidden, self.ffn, gated)
        mm += self.hidden * self.hidden + self.vocab * self.hidden
        dh = self.hidden // self.heads
        attn = sum(attention_train_flops_per_token(1, seq if t == "full_attention" else min(seq, self.window),
                                                   self.heads, dh, dh) for t in self.layer_types(self.layers))
        return 6.0 * mm + attn

    def executed_flops_per_token(self, seq: int) -> float:
        """What SDPA with a window mask executes: local layers at S keys too."""
        return EncoderArch(**{**self.__dict__, "window": seq}).flops_per_token(seq)

    def reduced(self) -> tuple[list[str], tuple[int, ...]]:
        """Captured layer types and the full->captured map. ModernBERT's layer 0 has no attention norm, so
        its distinct blocks are: layer 0, a local layer, a global layer."""
        if self.family == "bert":
            return ["full_attention"], (0,) * self.layers
        types = self.layer_types(self.layers)
        rest, rest_map = shortened(types[1:])
        return [types[0], *rest], (0, *(1 + i for i in rest_map))


def _encoder_model(a: EncoderArch, layer_types: list[str]) -> Any:
    import transformers as tf

    if a.family == "bert":
        return tf.BertForMaskedLM(set_attention(tf.BertConfig(
            vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=len(layer_types),
            num_attention_heads=a.heads, intermediate_size=a.ffn, max_position_embeddings=a.positions,
            pad_token_id=0,
        )))
    return tf.ModernBertForMaskedLM(set_attention(tf.ModernBertConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=len(layer_types),
        num_attention_heads=a.heads, max_position_embeddings=a.positions, local_attention=a.window,
        layer_types=layer_types, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2,
    )))


def encoder_builder(full: EncoderArch, tiny: EncoderArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate(size.seq)
        types, mapping = a.reduced() if reduced else (a.layer_types(a.layers), ())
        stack = "bert.encoder.layer" if a.family == "bert" else "model.layers"
        tokens = size.batch * size.seq
        return Built(
            make_model=lambda: _encoder_model(a, types),
            make_batch=lambda: mlm_batch(size.batch, size.seq, a.vocab),  # type: ignore[arg-type]
            loss=hf_loss, make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch, tokens_per_step=tokens,
            model_flops=tokens * a.flops_per_token(size.seq),
            repeats=(Repeat(module_list=stack, full_to_captured=mapping),) if reduced else (),
        )

    return build


BERT_BASE = EncoderArch(family="bert", vocab=30522, hidden=768, ffn=3072, layers=12, heads=12, positions=512)
BERT_LARGE = EncoderArch(family="bert", vocab=30522, hidden=1024, ffn=4096, layers=24, heads=16, positions=512)
MODERNBERT_LARGE = EncoderArch(family="modernbert", vocab=50368, hidden=1024, ffn=2624, layers=28, heads=16,
                               positions=8192, global_every=3, window=128)
_TINY_BERT = EncoderArch(family="bert", vocab=512, hidden=128, ffn=256, layers=2, heads=8, positions=64)
_TINY_MODERNBERT = EncoderArch(family="modernbert", vocab=512, hidden=128, ffn=96, layers=4, heads=8, positions=64,
                               global_every=3, window=8)
_BERT_SRC = "Devlin et al. 2019 (arXiv 1810.04805) 3; google-bert/bert-base-uncased, bert-large-uncased config.json"
_MLM_FLOPS = "6·N_matmul (incl. MLM head on every position) + 6·L·S_kv·H·2·d_head per token"

register_workload(Workload(
    name="bert-base", domain=Domain.ENCODER, library="transformers",
    description="BERT-base masked LM: 12 layers, d=768, 12 heads, FFN 3072; MLM head on every position, 1/7 "
                "of positions are targets. BertForMaskedLM adds the head transform (0.6M) to the paper's count",
    source=_BERT_SRC, build_fn=encoder_builder(BERT_BASE, _TINY_BERT),
    # BERT pre-training phase 1 runs 90% of its steps at sequence 128 (Devlin et al. A.2); micro-batch 32
    canonical={"full": Size(batch=32, seq=128), "tiny": Size(batch=2, seq=32)},
    published_params=110e6, published_params_source="Devlin et al. 2019 3: BERT-BASE 110M",
    train_flops_per_unit=BERT_BASE.flops_per_token(128), train_flops_source=_MLM_FLOPS + " at S=128",
    supports_reduced=True, tags=("torchbench:hf_Bert",),
))
register_workload(Workload(
    name="bert-large", domain=Domain.ENCODER, library="transformers",
    description="BERT-large masked LM: 24 layers, d=1024, 16 heads, FFN 4096 (MLPerf BERT); HF's count is 1.4% "
                "under the paper's 340M",
    source=_BERT_SRC, build_fn=encoder_builder(BERT_LARGE, _TINY_BERT),
    # MLPerf Training BERT runs phase 2 at sequence 512
    canonical={"full": Size(batch=8, seq=512), "tiny": Size(batch=2, seq=32)},
    published_params=340e6, published_params_source="Devlin et al. 2019 3: BERT-LARGE 340M",
    train_flops_per_unit=BERT_LARGE.flops_per_token(512), train_flops_source=_MLM_FLOPS + " at S=512",
    supports_reduced=True, tags=("mlperf:bert",),
))
register_workload(Workload(
    name="modernbert-large", domain=Domain.ENCODER, library="transformers",
    description="ModernBERT-large masked LM: 28 pre-LN layers, d=1024, 16 heads, GeGLU 2624, RoPE, global "
                "attention every 3rd layer and 128-token local attention elsewhere (model FLOPs count 128 keys "
                "there; SDPA with a window mask executes the dense product: "
                f"{MODERNBERT_LARGE.executed_flops_per_token(1024) / 1e9:.2f} GF/token at S=1024); padded inputs "
                "(the unpadded path needs flash-attention varlen kernels)",
    source="Warner et al. 2024 (arXiv 2412.13663) Table 4; answerdotai/ModernBERT-large config.json",
    build_fn=encoder_builder(MODERNBERT_LARGE, _TINY_MODERNBERT),
    canonical={"full": Size(batch=8, seq=1024), "tiny": Size(batch=2, seq=32)},
    published_params=395e6, published_params_source="Warner et al. 2024 Table 4 / model card: 395M",
    train_flops_per_unit=MODERNBERT_LARGE.flops_per_token(1024), train_flops_source=_MLM_FLOPS + " at S=1024",
    supports_reduced=True, tags=("sliding-window",),
))


@dataclass(frozen=True, kw_only=True)
class EncDecArch:
    family: str
    """t5 (relative position bias in block 0, ReLU MLP) | bart (learned positions, GELU MLP)."""
    vocab: int
    d: int
    ffn: int
    layers: int
    """Encoder and decoder layers each."""
    heads: int
    d_head: int
    positions: int | None = None

    def validate(self, enc_len: int, dec_len: int) -> None:
        check_heads(self.family, self.d, self.heads, head_dim=self.d_head if self.family == "t5" else None)
        if self.positions is not None:
            check_seq(self.family, max(enc_len, dec_len), self.positions)

    def flops_per_sample(self, enc_len: int, dec_len: int) -> float:
        return encdec_train_flops_per_sample(
            d=self.d, inner=self.heads * self.d_head, ffn=self.ffn, enc_layers=self.layers,
            dec_layers=self.layers, heads=self.heads, d_head=self.d_head, enc_len=enc_len, dec_len=dec_len,
            vocab=self.vocab)


_t5_extra: dict[str, Any] = {"decoder_start_token_id": 0, "tie_word_embeddings": True}


def _encdec_model(a: EncDecArch, layers: int) -> Any:
    import transformers as tf

    if a.family == "t5":
        return tf.T5ForConditionalGeneration(set_attention(tf.T5Config(
            vocab_size=a.vocab, d_model=a.d, d_kv=a.d_head, d_ff=a.ffn, num_layers=layers,
            num_decoder_layers=layers, num_heads=a.heads, pad_token_id=0, eos_token_id=1, feed_forward_proj="relu",
            # without a start token T5 cannot shift labels into decoder inputs (notes P11)
            **_t5_extra,
        )))  # SDPA takes T5's relative position bias as an additive mask
    return tf.BartForConditionalGeneration(set_attention(tf.BartConfig(
        vocab_size=a.vocab, d_model=a.d, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=a.heads, decoder_attention_heads=a.heads, encoder_ffn_dim=a.ffn,
        decoder_ffn_dim=a.ffn, max_position_embeddings=a.positions or 1024, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
    )))


def encdec_builder(full: EncDecArch, tiny: EncDecArch, dec_ratio: int) -> Any:
    """``dec_ratio``: decoder length = encoder length // dec_ratio (T5 pre-training 512/128 -> 4)."""

    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        enc_len, dec_len = size.seq, max(size.seq // dec_ratio, 1)
        a.validate(enc_len, dec_len)
        # T5's block 0 holds the relative position bias: two distinct blocks per stack
        n_cap = 2 if a.family == "t5" else 1
        mapping = tuple(min(i, n_cap - 1) for i in range(a.layers))
        prefix = "" if a.family == "t5" else "model."
        stacks = ("encoder.block", "decoder.block") if a.family == "t5" else ("encoder.layers", "decoder.layers")

        def make_batch() -> dict[str, Any]:
            enc = token_batch(size.batch, enc_len, a.vocab)  # type: ignore[arg-type]
            dec = token_batch(size.batch, dec_len, a.vocab)  # type: ignore[arg-type]
            return {"input_ids": enc["input_ids"], "labels": dec["labels"]}

        return Built(
            make_model=lambda: _encdec_model(a, n_cap if reduced else a.layers),
            make_batch=make_batch, loss=hf_loss, make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch,
            tokens_per_step=size.batch * (enc_len + dec_len), unit="sample",
            model_flops=size.batch * a.flops_per_sample(enc_len, dec_len),
            repeats=tuple(Repeat(module_list=prefix + s, full_to_captured=mapping) for s in stacks) if reduced else (),
        )

    return build


T5_LARGE = EncDecArch(family="t5", vocab=32128, d=1024, ffn=4096, layers=24, heads=16, d_head=64)
BART_LARGE = EncDecArch(family="bart", vocab=50265, d=1024, ffn=4096, layers=12, heads=16, d_head=64, positions=1024)
_ENCDEC_FLOPS = "_common.encdec_train_flops_per_sample: 6·params per token applied to + attention, no causal halving"

register_workload(Workload(
    name="t5-large", domain=Domain.ENCDEC, library="transformers",
    description="T5-large (v1.0): 24+24 layers, d=1024, 16 heads of 64, ReLU FFN 4096, tied embeddings; "
                "512 input / 128 target tokens. The paper's '770M' is rounded up: the released checkpoint "
                "has 737.67M, which this build matches",
    source="Raffel et al. 2020 (arXiv 1910.10683) 3.7; google-t5/t5-large config.json",
    build_fn=encdec_builder(T5_LARGE, EncDecArch(family="t5", vocab=512, d=128, ffn=256, layers=3, heads=8,
                                                 d_head=16), dec_ratio=4),
    canonical={"full": Size(batch=8, seq=512), "tiny": Size(batch=2, seq=32)},
    published_params=737.67e6,
    published_params_source="google-t5/t5-large checkpoint: 737,668,096 parameters (paper 3.7 says ~770M)",
    train_flops_per_unit=T5_LARGE.flops_per_sample(512, 128), train_flops_source=_ENCDEC_FLOPS + ", 512/128",
    supports_reduced=True, tags=("torchbench:hf_T5_large",),
))
register_workload(Workload(
    name="bart-large", domain=Domain.ENCDEC, library="transformers",
    description="BART-large: 12+12 layers, d=1024, 16 heads, GELU FFN 4096, learned positions (1024), tied "
                "LM head; 512 input / 512 target tokens",
    source="Lewis et al. 2020 (arXiv 1910.13461); facebook/bart-large config.json",
    build_fn=encdec_builder(BART_LARGE, EncDecArch(family="bart", vocab=512, d=128, ffn=256, layers=2, heads=8,
                                                   d_head=16, positions=64), dec_ratio=1),
    canonical={"full": Size(batch=8, seq=512), "tiny": Size(batch=2, seq=32)},
    published_params=406.29e6,
    published_params_source="facebook/bart-large checkpoint: 406,291,456 parameters (fairseq README: ~400M)",
    train_flops_per_unit=BART_LARGE.flops_per_sample(512, 512), train_flops_source=_ENCDEC_FLOPS + ", 512/512",
    supports_reduced=True, tags=("torchbench:hf_Bart",),
))
