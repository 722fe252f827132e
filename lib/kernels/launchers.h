#pragma once
// Raw-pointer entry points of the fused CUDA kernels (lib/kernels/*.cu). Kept free of LibTorch
// headers so nvcc compiles the kernels quickly; fused_ops.cpp wraps them for ATen tensors and
// autograd. Every launcher runs on `stream` and returns the launch's cudaError_t as an int.
#include <cstddef>
#include <cstdint>

namespace matquant::kernels {

enum class Dtype { kFloat32, kBFloat16 };

// Softcapped, masked softmax over the last axis of scores [B, H, Tq, Tk] (contiguous):
// x = scale * s; x = cap * tanh(x / cap) if cap > 0; masked (mask == 0) -> -inf; p = softmax(x).
// mask is bool [B or 1, H or 1, Tq, Tk] given by strides in elements (last stride 1) or null.
// Also writes the row log-sum-exp (fp32) for the backward.
struct SoftmaxShape {
  int64_t batch, heads, query, key;
  int64_t mask_batch_stride, mask_head_stride, mask_query_stride;
};
int launch_softcapped_softmax_forward(Dtype dtype, const void* scores, const bool* mask, void* probs,
                                      float* lse, const SoftmaxShape& shape, float scale, float cap,
                                      void* stream);
// d scores from d probs, the probabilities and the log-sum-exp saved by the forward.
int launch_softcapped_softmax_backward(Dtype dtype, const void* grad_probs, const void* probs,
                                       const float* lse, void* grad_scores, int64_t rows, int64_t cols,
                                       float scale, float cap, void* stream);

// Softcapped attention forward without the scores in memory (lib/kernels/softcapped_attention.cu):
// out = softmax(mask(cap * tanh(scale * q k^T / cap))) v per (batch, head), bf16 only; cap <= 0
// means no cap. q [batch, heads, query, head_dim], k and v [batch, kv_heads, key, head_dim] and out
// [batch, heads, query, head_dim] are given by element strides (last stride 1, every stride and
// base 16-byte aligned); query head h reads key/value head h / (heads / kv_heads). mask: bool
// [B or 1, H or 1, query, key] by strides (key stride 1; 0 for a broadcast axis) or null (all
// allowed). Rows with no allowed key give 0. The shape must pass the check below.
struct AttentionShape {
  int64_t batch, heads, kv_heads, query, key, head_dim;
  int64_t q_batch, q_head, q_token;
  int64_t k_batch, k_head, k_token;
  int64_t v_batch, v_head, v_token;
  int64_t o_batch, o_head, o_token;
  int64_t mask_batch, mask_head, mask_query;
};
// head_dim 64, 128 or 256, batch and heads within the grid's y / z limits, at most 65,536 keys, and
// a device of compute capability 8.0 or later.
bool softcapped_attention_supported(int64_t batch, int64_t heads, int64_t key, int64_t head_dim, int device);
int launch_softcapped_attention_forward(const void* q, const void* k, const void* v, const bool* mask, void* out,
                                        const AttentionShape& shape, float scale, float cap, void* stream);

// One decode step's attention over a fixed-capacity cache (lib/kernels/decode_attention.cu): writes
// k_new and v_new ([batch, kv_heads, 1, head_dim]) into the caches ([batch, kv_heads, capacity,
// head_dim]) at *position (int64 on the device), then out = softmax(mask(cap * tanh(scale * q k^T /
// cap))) v over keys 0 .. *position for q [batch, heads, 1, head_dim]; cap <= 0 means no cap; query
// head h reads key/value head h / (heads / kv_heads). mask: bool [batch or 1, capacity] (key stride
// 1; mask_batch 0 when broadcast), true = attend, or null. bf16; rows by element strides (last
// stride 1, rows aligned to their width). Rows with no allowed key give 0. A position outside
// 0 .. capacity - 1 traps on the device (the caller keeps it inside).
struct DecodeAttentionShape {
  int64_t batch, heads, kv_heads, capacity, head_dim;
  int64_t q_batch, q_head;
  int64_t k_batch, k_head;
  int64_t v_batch, v_head;
  int64_t cache_batch, cache_head, cache_token;
  int64_t value_batch, value_head, value_token;
  int64_t o_batch, o_head;
  int64_t mask_batch;
  int64_t table_batch;  // RoPE tables' row stride (0: one row for every batch row)
};
// head_dim 64, 128 or 256 and 1, 2 or 4 query heads per key/value head.
bool decode_attention_supported(int64_t batch, int64_t heads, int64_t kv_heads, int64_t head_dim);
// cos and sin (bf16, one row of D per batch row at stride table_batch, or both null): q and k_new
// are rotated first, as launch_rope_forward rotates bf16 rows with bf16 tables.
int launch_decode_attention(const void* q, const void* k_new, const void* v_new, void* key_cache, void* value_cache,
                            const int64_t* position, const bool* mask, const void* cos, const void* sin, void* out,
                            const DecodeAttentionShape& shape, float scale, float cap, void* stream);

// Per-row cross-entropy of softcapped logits [rows, vocab] (contiguous): x = cap * tanh(l / cap)
// (cap > 0) or x = l; loss = logsumexp(x) - x[target]; rows whose target is `ignore_index` (or out
// of range) get loss 0. Writes loss and log-sum-exp (fp32, [rows]).
int launch_softcapped_cross_entropy_forward(Dtype dtype, const void* logits, const int64_t* targets,
                                            float* loss, float* lse, int64_t rows, int64_t vocab,
                                            float cap, int64_t ignore_index, void* stream);
// d logits = grad_loss[row] * (softmax(x) - onehot(target)) * dx/dl.
int launch_softcapped_cross_entropy_backward(Dtype dtype, const void* logits, const int64_t* targets,
                                             const float* lse, const float* grad_loss, void* grad_logits,
                                             int64_t rows, int64_t vocab, float cap, int64_t ignore_index,
                                             void* stream);

// RMSNorm over the last axis (rows x width, contiguous), statistics in fp32; y has x's dtype T,
// the weight may be fp32 under bf16 x (Gemma under autocast). adds_one (Gemma): y = T(n * (1 + w));
// otherwise (Llama, same dtypes only): y = T(w * T(n)); n = x * rstd. Writes rstd [rows].
// y_bf16 (fp32 x only, optional): y's bf16 copy too, written from the same values (y.to(bfloat16)).
int launch_rms_norm_forward(Dtype dtype, Dtype weight_dtype, const void* x, const void* weight, void* y,
                            float* rstd, int64_t rows, int64_t width, float eps, bool adds_one, void* stream,
                            void* y_bf16 = nullptr);
// A residual step with its norms (forward only), rows x width contiguous, one dtype T for h, branch
// and the outputs: h_out = T(h + post(branch)) and normed = next(h_out), post and next being the
// RMSNorms above with weights post_weight and next_weight (both of weight_dtype). post_weight null:
// h_out = T(h + branch); next_weight and normed null: no normed. All pointers 16-byte aligned; only
// for shapes residual_rms_norm_supported accepts (one warp per row, up to 512 16-byte packs, at least
// 128 rows).
bool residual_rms_norm_supported(Dtype dtype, Dtype weight_dtype, int64_t width, int64_t rows);
int launch_residual_rms_norm(Dtype dtype, Dtype weight_dtype, const void* h, const void* branch,
                             const void* post_weight, const void* next_weight, void* h_out, void* normed,
                             int64_t rows, int64_t width, float eps, bool adds_one, void* stream);
// dx and dw (weight's dtype, summed in fp32). weight_partials is fp32 workspace of
// [rms_norm_backward_blocks(rows), width].
int64_t rms_norm_backward_blocks(int64_t rows);
// fp32_grad: grad_y is fp32 whatever x's dtype, and is rounded to it first (rms_norm_add's backward:
// the composed form casts the sum's fp32 gradient to the branch's dtype). added_grad (x's dtype,
// contiguous, optional): another gradient of x, added to dx as autograd adds two gradients.
int launch_rms_norm_backward(Dtype dtype, Dtype weight_dtype, const void* grad_y, const void* x, const void* weight,
                             const float* rstd, void* grad_x, void* grad_weight, float* weight_partials, int64_t rows,
                             int64_t width, bool adds_one, void* stream, bool fp32_grad = false,
                             const void* added_grad = nullptr);
// hidden = h + rms_norm(branch, weight) (branch's dtype; weight as launch_rms_norm_forward takes it),
// summed in fp32 and stored in hidden_dtype: branch's, or fp32 (an fp32 residual stream and a bf16
// branch under autocast). Writes the norm's rstd per row. Supported from 128 rows, for widths of
// whole 16-byte packs of branch up to 512 of them, 16-byte aligned buffers.
bool rms_norm_add_supported(Dtype dtype, Dtype weight_dtype, Dtype hidden_dtype, int64_t width, int64_t rows);
int launch_rms_norm_add(Dtype dtype, Dtype weight_dtype, Dtype hidden_dtype, const void* h, const void* branch,
                        const void* weight, void* hidden, float* rstd, int64_t rows, int64_t width, float eps,
                        bool adds_one, void* stream);

// MinMax fake-quantize-and-slice of weight rows (each row one quantization group, contiguous):
// per-row affine parameters to `source_bits` as quant::minmax_params, codes rounded and clamped,
// sliced to `target_bits` by Eq. 6 (clamped unless extra_precision), dequantized; fp32 maths,
// output in out_dtype. Writes each row's scale and zero point for the backward, and, when
// row_inside is not null, whether every code of the row lies unclamped in [0, 2^c - 1] (1, else 0):
// the straight-through mask of such a row is all ones, so the backward need not read its weights.
// given_range: scale and zero already hold the rows' parameters (from an earlier call on the same
// weights and source_bits); they are read instead of computed, and nothing but out is written.
int launch_fake_quantize_forward(Dtype dtype, Dtype out_dtype, const void* weight, void* out, float* scale,
                                 float* zero, int64_t rows, int64_t cols, int source_bits, int target_bits,
                                 bool extra_precision, void* stream, int32_t* row_inside = nullptr,
                                 bool given_range = false);
// The same for several target precisions of one fp32 weight at once, each written in bf16 (rows of
// cols values, cols a multiple of 4 up to 12288, 16-byte aligned weight, 8-byte aligned outputs):
// each output bit-identical to launch_fake_quantize_forward with that target, the weight read once.
// Scale, zero and row_inside as there (never given).
constexpr int kMaxManyOutputs = 4;
struct ManyBf16Outputs {
  void* out[kMaxManyOutputs] = {};
  int target_bits[kMaxManyOutputs] = {};
  int count = 0;
};
bool fake_quantize_forward_many_supported(int64_t cols);
int launch_fake_quantize_forward_many(const float* weight, const ManyBf16Outputs& outs, float* scale, float* zero,
                                      int32_t* row_inside, int64_t rows, int64_t cols, int source_bits,
                                      bool extra_precision, void* stream);
// Straight-through backward: dW = (g * s) / s where the unclamped code lies in [0, 2^c - 1], else 0.
int launch_fake_quantize_backward(Dtype dtype, const void* grad_out, const void* weight, const float* scale,
                                  const float* zero, void* grad_weight, int64_t rows, int64_t cols,
                                  int source_bits, void* stream);
// Learnable-clipping fake-quantize-and-slice (lib/kernels/clipped_fake_quantize.cu): as above with
// the range [beta min, gamma max] per row, gamma and beta (fp32, one per row) the sigmoids of
// quant::LearnableClipping's logits. Output in the weight's dtype; `saved` ([rows, 8] fp32) is what the
// backward reads. The backward writes the logits' gradients and, when grad_weight is not null, the
// weight's (straight-through, plus the range's share at each row's first minimum and maximum).
int launch_clipped_fake_quantize_forward(Dtype dtype, const void* weight, const float* gamma, const float* beta,
                                         void* out, float* saved, int64_t rows, int64_t cols,
                                         int source_bits, int target_bits, bool extra_precision, void* stream);
int launch_clipped_fake_quantize_backward(Dtype dtype, const void* grad_out, const void* weight, const float* saved,
                                          void* grad_weight, float* grad_upper, float* grad_lower, int64_t rows,
                                          int64_t cols, int source_bits, int target_bits, bool extra_precision,
                                          void* stream);
// Rotary position embedding (lib/kernels/rope.cu): out = x * cos + rotate_half(x) * sin for x
// [batch, heads, tokens, head_dim] given by element strides (last stride 1), tables [1 or batch,
// tokens, head_dim] (table_batch = 0 when shared; last stride 1); out (and, backward, grad_out)
// contiguous; backward writes grad_x with the shape's x strides (the forward's x layout, so a
// transposed projection output gets its gradient back in the projection's own layout). out's dtype is bf16 when x and the tables are, else fp32; grad_x has x's.
struct RopeShape {
  int64_t batch, heads, tokens, head_dim;
  int64_t x_batch, x_head, x_token;
  int64_t table_batch, table_token;
};
// bf16_out: out is bf16 whatever the promotion (the promoted result rounded once more, as a cast
// would); bf16_grad: grad_out is such a bf16 output's gradient.
int launch_rope_forward(Dtype x_dtype, Dtype table_dtype, const void* x, const void* cos, const void* sin, void* out,
                        const RopeShape& shape, void* stream, bool bf16_out = false);
int launch_rope_backward(Dtype x_dtype, Dtype table_dtype, const void* grad_out, const void* cos, const void* sin,
                         void* grad_x, const RopeShape& shape, void* stream, bool bf16_grad = false);
// Gated FFN activation over n contiguous elements (lib/kernels/gated_activation.cu):
// out = act(gate) * up with act = tanh-approximate GELU (gelu) or SiLU; backward gives d gate and
// d up from d out.
int launch_gated_activation_forward(Dtype dtype, const void* gate, const void* up, void* out, int64_t n, bool gelu,
                                    void* stream);
int launch_gated_activation_backward(Dtype dtype, const void* grad_out, const void* gate, const void* up,
                                     void* grad_gate, void* grad_up, int64_t n, bool gelu, void* stream);
// The same gradient from a bf16 one (grad_out) for fp32 weights, written into master_grad (fp32),
// or added to it when `accumulate`. row_inside (optional): the forward's flags; the weights of
// flagged rows are not read (a quarter of the pass's bytes: 14 to 10 per weight).
int launch_fake_quantize_accumulate(const void* grad_out, const float* weight, const float* scale, const float* zero,
                                    float* master_grad, int64_t rows, int64_t cols, int source_bits, bool accumulate,
                                    void* stream, const int32_t* row_inside = nullptr);
// The same for several bf16 gradients of one weight and range, added in order (bit-identical to one
// call per gradient), reading and writing master_grad once.
constexpr int kMaxAccumulatedGradients = 4;
struct AccumulatedGradients {
  const void* grad[kMaxAccumulatedGradients] = {};
  int count = 0;
};
int launch_fake_quantize_accumulate(const AccumulatedGradients& grads, const float* weight, const float* scale,
                                    const float* zero, float* master_grad, int64_t rows, int64_t cols, int source_bits,
                                    bool accumulate, void* stream, const int32_t* row_inside = nullptr);

// AdamW (decoupled weight decay) over fp32 tensors in one launch (lib/kernels/adamw_update.cu).
// One entry per tensor, its blocks from first_block on (adamw_update_blocks(numel) of them, the
// entries in order); the table lives on the device. divisor (device, optional): every gradient is
// divided by it as it is read (gradient clipping), and the gradients are not written.
struct AdamWEntry {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  int64_t numel;
  int64_t first_block;
  float bias_correction1;       // 1 - beta1^step
  float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};
int64_t adamw_update_blocks(int64_t numel);
int launch_adamw_update(const AdamWEntry* table, int tensors, int64_t blocks, float lr, float beta1, float beta2,
                        float weight_decay, float eps, const float* divisor, void* stream);

}  // namespace matquant::kernels

namespace matquant::kernels {
// Activation fake quantization (lib/kernels/activation_quant.cu; quant/activation_quant.h): static
// per-channel INT over n contiguous values whose last dimension has `channels` entries (inverse,
// scale and zero are fp32 per channel), or MXINT blocks of `block` along rows of `length`.
int launch_activation_static_int(Dtype dtype, const void* x, void* out, const float* inverse, const float* scale,
                                 const float* zero, int64_t n, int64_t channels, int bits, void* stream);
int launch_activation_mx(Dtype dtype, const void* x, void* out, int64_t rows, int64_t length, int64_t block,
                         int element_bits, void* stream);
// cudaGetErrorName of a launcher's return code.
const char* cuda_error_name(int code);
// One lazy block of GPTQ with affine round to nearest (lib/kernels/gptq_block.cu): w1, scale, zero,
// q1, err1 and codes1 are contiguous [rows, width] (scale and zero already expanded per column);
// u1 is the block's upper Cholesky factor, row stride ld_u. w1 is overwritten (the updated values).
int launch_gptq_block_affine(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero,
                             float* q1, float* err1, uint8_t* codes1, int64_t rows, int width, int max_code,
                             void* stream);
// The nested grid (several sliced precisions of c-bit codes; quant::NestedAffineGrid): the same
// block walk, each code minimising the lambda-weighted slices' squared error (weights sum to 1).
struct NestedGptqSpec {
  int source_bits = 8;
  int count = 0;
  int bits[8] = {};
  float weights[8] = {};
  bool extra_precision = false;
};
int launch_gptq_block_nested(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero,
                             float* q1, float* err1, uint8_t* codes1, int64_t rows, int width,
                             const NestedGptqSpec& spec, void* stream);

}  // namespace matquant::kernels

namespace matquant::kernels {
// The r-bit slice of a bit-plane code store (quant/bit_planes.h) applied to activations:
// y[b, o] = sum_i x[b, i] * w_r[o, i] (+ bias[o]), w_r = s (2^(c-r) S(q, r) - z) as
// NestedCodes::dequantize defines it, without ever writing w_r (lib/kernels/bit_plane_gemm.cu).
// planes: int32 [rows, tiles, c, 8] (quant::BitPlanes: tile t holds words 8t..8t+7 of each plane,
// plane k = bit c-1-k, bit j of word w = column 32 w + j);
// scale, zero: fp32 [rows, groups] with group_size 0 (per channel, groups = 1) or a multiple of
// 128; x: bf16 [batch, columns] contiguous with columns <= 256 tiles; y: bf16 [batch, rows].
struct BitPlaneGemm {
  const int32_t* planes = nullptr;
  int64_t rows = 0;
  int64_t tiles = 0;
  int code_bits = 8;
  int level_bits = 8;  // r <= code_bits
  bool extra_precision = false;
  const float* scale = nullptr;
  const float* zero = nullptr;
  int64_t groups = 1;
  int64_t group_size = 0;
  const void* x = nullptr;
  int64_t columns = 0;
  int batch = 1;  // 1..16
  const void* bias = nullptr;  // bf16 [rows] or null
  void* y = nullptr;
  void* workspace = nullptr;  // bit_plane_gemm_workspace_bytes(args) bytes when that is not 0
};
constexpr int kBitPlaneGemmMaxBatch = 16;
size_t bit_plane_gemm_workspace_bytes(const BitPlaneGemm& args);
int launch_bit_plane_gemm(const BitPlaneGemm& args, void* stream);
// w_r itself, bf16 [rows, columns] (the same fp32 arithmetic as NestedCodes::dequantize, so the
// values are identical); x, batch, bias and y of `args` are unused.
int launch_bit_plane_dequantize(const BitPlaneGemm& args, void* out, void* stream);
}  // namespace matquant::kernels

namespace matquant::kernels {
// The r-bit slice as a slice pack (quant/slice_pack.h: levels S(q, r) / 2^(c-r) at `width` bits, in
// mma.m16n8k16 fragment order) applied to activations: y[b, o] = sum_i x[b, i] w_r[o, i] (+ bias[o]),
// w_r = s (step level - z) (lib/kernels/slice_pack_gemm.cu).
// words: int32 [row_tiles, chunks, width / 2, 32, 4]; scale, zero: fp32 [rows, groups] with
// group_size 0 (per channel) or a multiple of 128; x: bf16 [batch, chunks x 128] contiguous and
// 16-byte aligned (zero past the weight's columns); y: bf16 [batch, rows].
struct SlicePackGemm {
  const int32_t* words = nullptr;
  int64_t rows = 0;
  int64_t chunks = 0;  // 128-column chunks
  int width = 4;       // 2, 4 or 8 bits per level
  float step = 1.0f;   // 2^(c-r)
  const float* scale = nullptr;
  const float* zero = nullptr;
  int64_t groups = 1;
  int64_t group_size = 0;
  const void* x = nullptr;
  int batch = 1;  // 1..16
  const void* bias = nullptr;  // bf16 [rows] or null
  void* y = nullptr;
  // Programmatic dependent launch (sm_90 and later): the kernel may start while the stream's
  // previous kernel finishes, reads its weights, and waits for that kernel before reading x
  // (kernels::set_slice_pack_chained_launch says when that is safe).
  bool chained = false;
  // Row tiles per warp at batch 1 (widths 2 and 4): 0 picks two for chained calls and one otherwise.
  int row_tiles = 0;
  // Batch 1, per-channel scales, on the integer tensor cores (slice_pack_imma.cu):
  // kSlicePackIntegerMmaOff never; kSlicePackIntegerMmaOn and kSlicePackIntegerMmaAuto (the default)
  // wherever slice_pack_imma_takes says the call fits, where it measured faster at every width.
  int integer_mma = 0;
};
constexpr int kSlicePackIntegerMmaOff = 0, kSlicePackIntegerMmaOn = 1, kSlicePackIntegerMmaAuto = 2;
constexpr int kSlicePackGemmMaxBatch = 16;
int launch_slice_pack_gemm(const SlicePackGemm& args, void* stream);
// The integer-MMA kernel: whether it takes a call, whether launch_slice_pack_gemm runs it for `args`
// (its integer_mma mode and the one above), and its launch.
bool slice_pack_imma_takes(const SlicePackGemm& args);
bool slice_pack_picks_imma(const SlicePackGemm& args);
int launch_slice_pack_imma(const SlicePackGemm& args, void* stream);
// The integer kernel's grid and launch for `args` (rows, chunks, width, chained; words or null)
// without its arithmetic: y[o] = sum_i x[0, i] for every row o (slice_pack_imma.cu says what it
// measures). blocks_per_sm 1 (as the kernel) or 2.
int launch_slice_pack_latency_floor(const SlicePackGemm& args, int blocks_per_sm, void* stream);
// w_r itself, bf16 [rows, columns] (columns <= chunks x 128), with NestedCodes::dequantize's fp32
// arithmetic; x, batch, bias and y of `args` are unused.
int launch_slice_pack_dequantize(const SlicePackGemm& args, int64_t columns, void* out, void* stream);
}  // namespace matquant::kernels
