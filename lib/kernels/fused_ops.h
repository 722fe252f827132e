#pragma once
// Fused CUDA kernels for the hot elementwise chains of the decoder and the QAT weight path, as
// autograd-aware ATen operations. Callers check fused_kernels_enabled(tensor) and otherwise run
// their plain ATen composition, which stays the reference (tests/kernels compares the two).
#include <ATen/ATen.h>

#include <utility>

namespace matquant::kernels {

// Whether the build has the kernels (CMake option MATQUANT_CUDA_KERNELS with a CUDA LibTorch).
bool fused_kernels_compiled();
// Compiled in, `tensor` is float or bfloat16 on a CUDA device (the dtypes every kernel takes), and
// MATQUANT_FUSED_KERNELS is not "0" (the switch benchmarks use to measure the ATen path in the
// same build).
bool fused_kernels_enabled(const at::Tensor& tensor);
// Overrides the MATQUANT_FUSED_KERNELS switch for this process (tests and benchmarks compare both
// paths in one run); returns the previous setting.
bool set_fused_kernels(bool on);

// softmax(mask(cap * tanh(scale * scores / cap))) over the last axis of scores [B, H, Tq, Tk];
// cap <= 0 means no softcap; mask (bool, broadcastable to [B, H, Tq, Tk], true = attend) may be
// undefined. Output in the scores' dtype; maths in fp32.
at::Tensor softcapped_softmax(const at::Tensor& scores, const at::Tensor& mask, double scale, double cap);

// The same attention with gradients: the composed form's grouped-query matmuls around
// softcapped_softmax, equal to it within bf16 rounding (the output's matmuls are tiled per query
// head; tests/unit/model/test_fused_kernels.cpp), without its layout copies: q and k
// [B, H, T, D] and [B, KVH, T, D] contiguous (RoPE's outputs), v [B, KVH, T, D] with unit last
// stride (the projection's [B, T, KVH, D] output seen transposed); returns [B, H, T, D] as a view of
// a [B, T, H, D] buffer, and v's gradient in v's layout. For a full pass (Tq = Tk) under
// softcapped_attention_core_applies (which MATQUANT_ATTENTION_CORE=0 turns off).
at::Tensor softcapped_attention_core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale, double cap);
bool softcapped_attention_core_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// softmax(mask(cap * tanh(scale * q k^T / cap))) v in one kernel, forward only and without the
// [Tq, Tk] scores in memory (lib/kernels/softcapped_attention.cu): q [B, H, Tq, D], k and v
// [B, KVH, Tk, D] (grouped heads: query head h reads h / (H / KVH)), mask as softcapped_softmax's.
// Returns [B, H, Tq, D] as a view of a [B, Tq, H, D] buffer. Only for operands
// softcapped_attention_applies accepts.
at::Tensor softcapped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                                double scale, double cap);
// Fused kernels enabled for q, bf16 operands on one device with unit last stride and 16-byte aligned
// rows, D in {64, 128, 256}, no operand requiring grad, and MATQUANT_ATTENTION_KERNEL not "0".
bool softcapped_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
// Overrides MATQUANT_ATTENTION_KERNEL for this process; returns the previous setting.
bool set_softcapped_attention_kernel(bool on);

// One decode step's attention over a fixed-capacity cache in one kernel
// (lib/kernels/decode_attention.cu): writes k_new and v_new ([B, KVH, 1, D]) into key_cache and
// value_cache ([B, KVH, C, D]) at `position` (a one-element int64 tensor on the device), then
// returns softmax(mask(cap * tanh(scale * q k^T / cap))) v over keys 0 .. position for q
// [B, H, 1, D] (cap <= 0: no cap), as a [B, H, 1, D] view of a [B, 1, H, D] buffer. mask: bool
// [B or 1, 1, 1, C] (true = attend) or undefined. Only for operands decode_attention_applies accepts.
// With RoPE tables rope_cos and rope_sin (model::RopeTables of the step: bf16 [B or 1, 1, D]), q
// and k_new are rotated first, bit for bit as rotary_embedding rotates them, so the step needs no
// rotation kernel; only for tables decode_attention_rotates accepts.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_new, const at::Tensor& v_new,
                            const at::Tensor& key_cache, const at::Tensor& value_cache, const at::Tensor& position,
                            const at::Tensor& mask, double scale, double cap, const at::Tensor& rope_cos = {},
                            const at::Tensor& rope_sin = {});
// Whether decode_attention can rotate q ([B, H, 1, D]) with these tables: bf16 [B or 1, 1, D] on
// q's device, unit last stride, 16-byte aligned rows.
bool decode_attention_rotates(const at::Tensor& q, const at::Tensor& rope_cos, const at::Tensor& rope_sin);
// Fused kernels enabled for q, MATQUANT_ATTENTION_KERNEL not "0", bf16 operands on one device
// without gradients, one query, D in {64, 128, 256}, 1, 2 or 4 query heads per key/value head, rows
// 16-byte aligned with unit last stride, two contiguous caches of their own memory, a bool mask
// shared by the heads, and a capacity of at most
// kDecodeAttentionMaxCapacity keys (one block per row and key/value head walks them all; a longer
// cache keeps the batched matmuls, which spread it over the GPU).
bool decode_attention_applies(const at::Tensor& q, const at::Tensor& k_new, const at::Tensor& v_new,
                              const at::Tensor& key_cache, const at::Tensor& value_cache, const at::Tensor& mask);
constexpr int64_t kDecodeAttentionMaxCapacity = 512;

// Per-row cross-entropy (fp32, [rows]) of the softcapped logits [rows, vocab] (cap <= 0: none)
// against targets [rows]; rows with target == ignore_index give 0.
at::Tensor softcapped_cross_entropy(const at::Tensor& logits, const at::Tensor& targets, double cap,
                                    int64_t ignore_index = -100);

// RMSNorm over the last axis with fp32 statistics, output in x's dtype (float or bf16).
// adds_one: Gemma's y = (n * (1 + w.float())).to(T), any weight dtype; else Llama's y = w * n.to(T),
// weight in x's dtype. Widths up to 8192.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, bool adds_one);
// (rms_norm(x, ...), x) from one autograd node: the second output is x itself (a view), for the
// residual path that also reads x. The backward adds that path's gradient inside the norm's kernel
// instead of autograd's separate add of x's two gradients. Equal to the composed form, gradients
// included, bit for bit.
std::pair<at::Tensor, at::Tensor> rms_norm_passing(const at::Tensor& x, const at::Tensor& weight, double eps,
                                                   bool adds_one);

// A residual step and the norm after it, forward only: hidden = h + post_norm(branch) and
// normed = next_norm(hidden), both RMSNorms as rms_norm's (post_weight undefined: h + branch;
// next_weight undefined: normed undefined). One kernel where the composed form runs three and moves
// twice the bytes; the same roundings, so equal to it up to the order of the sums of squares.
struct ResidualNormed {
  at::Tensor hidden, normed;
};
ResidualNormed residual_rms_norm(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& post_weight,
                                 const at::Tensor& next_weight, double eps, bool adds_one);
// Whether residual_rms_norm takes these: fused kernels enabled, no gradient needed (grad mode off or
// nothing requires grad), h and branch of one shape and dtype, contiguous, 16-byte aligned, a width
// of whole 16-byte packs up to 512 of them, weights as rms_norm takes them (one dtype for both)
// except bf16 weights over fp32 rows, which only rms_norm takes. From 128 rows one warp holds a
// row; fewer rows (decode steps) take one block per row.
bool residual_rms_norm_applies(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& post_weight,
                               const at::Tensor& next_weight, bool adds_one);

// h + rms_norm(branch, weight, eps, adds_one) with autograd, in one kernel each way: the sum's
// gradient passes to h as it is, and to the norm rounded to branch's dtype, as the composed form's
// add does. For the residual stream in training, where h (fp32) and branch (a bf16 matmul output
// under autocast) differ in dtype and residual_rms_norm does not apply. Equal to the composed form,
// forward and backward, value for value.
at::Tensor rms_norm_add(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& weight, double eps,
                        bool adds_one);
// Whether rms_norm_add takes these: fused kernels enabled, h and branch of one shape, contiguous and
// 16-byte aligned, h of branch's dtype or fp32, a weight rms_norm takes, at least 128 rows of whole
// 16-byte packs (up to 512 of them).
bool rms_norm_add_applies(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& weight, bool adds_one);

// x * cos + rotate_half(x) * sin (model::apply_rope) for x [B, H, T, D] (any strides, last 1) and
// tables [1 or B, T, D]; output contiguous in the promoted dtype, with the composed form's roundings
// (bit-identical to it, forward and backward). bf16_out: the output is that result cast to bf16 (and
// the gradient taken in bf16), bit-identical to the composed form followed by .to(bf16), for callers
// whose consumer would cast it anyway (autocast's matmuls).
at::Tensor rotary_embedding(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool bf16_out = false);
// Whether rotary_embedding takes these operands (fused kernels enabled for x and the tables, shapes as
// above, sin like cos); callers otherwise run the composed form.
bool rotary_embedding_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// act(gate) * up for the gated FFN (gelu: tanh-approximate GELU, else SiLU), gate and up of one shape
// and dtype; agrees with at::gelu(gate, "tanh") * up / at::silu(gate) * up, forward and backward,
// to within the dtype's rounding.
at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, bool gelu);

// quant::fake_quantize with MinMax parameters (detached, per output channel or group) on a 2-D
// weight, straight-through backward; bit-identical to the ATen composition on CUDA.
at::Tensor fake_quantize_minmax(const at::Tensor& weight, int64_t group_size, int source_bits, int target_bits,
                                bool extra_precision);

// quant::fake_quantize with learnable clipping (quant::LearnableClippingImpl::params: the range
// [sigmoid(lower) min, sigmoid(upper) max] per output channel or group) on a 2-D weight, with the
// composition's gradients for the logits ([out, groups, 1] fp32) and, when it requires one, the
// weight. The forward equals the ATen composition on CUDA; gradients agree to fp32 summation order
// (tests/unit/model/test_fused_kernels.cpp).
at::Tensor fake_quantize_clipped(const at::Tensor& weight, const at::Tensor& upper_logit,
                                 const at::Tensor& lower_logit, int64_t group_size, int source_bits, int target_bits,
                                 bool extra_precision);
// Whether fake_quantize_clipped takes these operands; callers otherwise run the composition.
bool fake_quantize_clipped_applies(const at::Tensor& weight, const at::Tensor& upper_logit,
                                   const at::Tensor& lower_logit, int64_t group_size);

// quant::ActivationQuantizer::apply in one kernel, bit-identical to its ATen path: static INT with
// per-channel fp32 scale / zero point (inverse = at::reciprocal(scale)) over x's last dimension, or
// dynamic MXINT (element_bits, blocks of block_size along the last dimension). No autograd.
at::Tensor fake_quantize_activations_static(const at::Tensor& x, const at::Tensor& inverse, const at::Tensor& scale,
                                            const at::Tensor& zero_point, int bits);
at::Tensor fake_quantize_activations_mx(const at::Tensor& x, int element_bits, int64_t block_size);

// GPTQ's inner loop over one lazy block with affine round to nearest (quant/gptq.cpp's fast path):
// w1 [rows, width] (updated in place), u1 [width, width] (a view with unit column stride), scale and
// zero [rows, width] per column. Returns (quantized values, errors, codes as uint8), each [rows, width].
std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_affine(at::Tensor& w1, const at::Tensor& u1,
                                                                 const at::Tensor& scale, const at::Tensor& zero,
                                                                 int max_code);
// The same for nested codes: c = source_bits, one (bits, weight) per sliced precision (weights sum
// to 1), Eq. 8 slices when extra_precision.
std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_nested(at::Tensor& w1, const at::Tensor& u1,
                                                                 const at::Tensor& scale, const at::Tensor& zero,
                                                                 int source_bits, const std::vector<int>& bits,
                                                                 const std::vector<double>& weights,
                                                                 bool extra_precision);

}  // namespace matquant::kernels
