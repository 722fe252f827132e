#pragma once
// ATen entry points of the slice-pack kernels (lib/kernels/slice_pack_gemm.cu). quant::slice_pack_linear
// is the caller that picks them; these check shapes and launch. The stand-in build without CUDA
// kernels throws from both.
#include <ATen/ATen.h>

namespace matquant::kernels {

// One weight's slice pack, as tensors on one CUDA device (quant::SlicePack's fields).
struct SlicePackOperand {
  at::Tensor words;       // int32 [row_tiles, chunks, width / 2, 32, 4]
  at::Tensor scale;       // float32 [rows, groups]
  at::Tensor zero_point;  // float32 [rows, groups]
  int width = 4;
  double step = 1.0;      // 2^(c-r)
  int64_t group_size = 0;
  int64_t columns = 0;
};

// Whether slice_pack_matmul launches chained to the stream's previous kernel (programmatic
// dependent launch, sm_90 and later; elsewhere a plain launch): the call may start while that kernel
// finishes, reading its weights, scales and zero points meanwhile, and waits for it only before it
// reads x and writes y. So a chained call's pack must not be written by the kernel just before it
// (a pack made earlier, with any other kernel between, is safe). Off by default; `matquant generate`
// turns it on once its packs are made; MATQUANT_SLICE_PACK_CHAINED=0 or 1 sets the starting value.
void set_slice_pack_chained_launch(bool on);
bool slice_pack_chained_launch();
// Row tiles per warp at batch 1, widths 2 and 4: 0 (the default) takes two for chained calls, which
// measured faster back to back and slower alone (docs/performance.md), and one otherwise; 1 or 2
// forces that many. MATQUANT_SLICE_PACK_ROW_TILES sets the starting value.
void set_slice_pack_row_tiles(int row_tiles);
int slice_pack_row_tiles();
// Batch-1 calls with per-channel scales on the integer tensor cores
// (lib/kernels/slice_pack_imma.cu: activations as 23-bit fixed point, one exponent per warp's
// columns) instead of the bf16 ones: 0 never; 1, and 2 (the default), wherever the call fits (it
// measured faster at every width since 2026-12-02; docs/performance.md, "tenth round").
// MATQUANT_SLICE_PACK_INTEGER_MMA=0 or 1 sets the starting value.
void set_slice_pack_integer_mma(int mode);
int slice_pack_integer_mma();
// Whether slice_pack_matmul of `w` with `batch` activation rows runs on the integer tensor cores in
// the current mode, on the current CUDA device.
bool slice_pack_matmul_uses_integer_mma(const SlicePackOperand& w, int64_t batch);

// Most activation rows the matmul kernel takes; more rows go through the dequantized weight.
int64_t slice_pack_matmul_max_rows();

// y = x w_r^T (+ bias), x bf16 [batch <= 16, columns], y bf16 [batch, rows].
at::Tensor slice_pack_matmul(const SlicePackOperand& w, const at::Tensor& x, const at::Tensor& bias);

// The floor of a chained batch-1 call on the integer kernel (for benchmarks): that kernel's grid and
// launch for a `rows` x x.size(1) weight of `width`-bit levels, without its arithmetic; with `words`
// (a slice pack's, SlicePackOperand::words) it also streams the levels as the kernel does and drops
// them. y bf16 [1, rows], every value sum_i x[0, i] (fp32 sums, rounded once). Chained as
// slice_pack_matmul is. blocks_per_sm 1 holds one block per SM, as the kernel's registers do; 2 lets
// the next call's blocks sit beside this call's.
at::Tensor slice_pack_latency_floor(int64_t rows, int width, const at::Tensor& x, const at::Tensor& words = {},
                                    int blocks_per_sm = 1);

// w_r as bf16 [rows, columns].
at::Tensor slice_pack_dequantize(const SlicePackOperand& w);

}  // namespace matquant::kernels
