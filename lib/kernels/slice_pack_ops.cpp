#include "kernels/slice_pack_ops.h"

#include "kernels/aten_launch.h"

#include <c10/cuda/CUDAGuard.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace matquant::kernels {

namespace {

constexpr int64_t kChunkColumns = 128;
// Off unless MATQUANT_SLICE_PACK_CHAINED=1 (slice_pack_ops.h says when chaining is safe).
std::atomic<bool> chained_launch{[] {
  const char* v = std::getenv("MATQUANT_SLICE_PACK_CHAINED");
  return v != nullptr && std::string(v) == "1";
}()};
std::atomic<int> batch1_row_tiles{[] {
  const char* v = std::getenv("MATQUANT_SLICE_PACK_ROW_TILES");
  const int n = v == nullptr ? 0 : std::atoi(v);
  return n == 1 || n == 2 ? n : 0;
}()};
std::atomic<int> integer_mma{[] {
  const char* v = std::getenv("MATQUANT_SLICE_PACK_INTEGER_MMA");
  if (v != nullptr && std::string(v) == "0") return kSlicePackIntegerMmaOff;
  if (v != nullptr && std::string(v) == "1") return kSlicePackIntegerMmaOn;
  return kSlicePackIntegerMmaAuto;
}()};

SlicePackGemm arguments(const SlicePackOperand& w, const char* caller) {
  const at::Tensor& p = w.words;
  if (!p.defined() || !p.is_cuda() || p.scalar_type() != at::kInt || p.dim() != 5 || !p.is_contiguous() ||
      p.size(2) != w.width / 2 || p.size(3) != 32 || p.size(4) != 4 || w.columns > p.size(1) * kChunkColumns) {
    throw Error(ErrorCode::kInternal,
                std::string(caller) + ": words must be contiguous int32 [row_tiles, chunks, width / 2, 32, 4] on CUDA");
  }
  const int64_t groups = w.scale.dim() == 2 ? w.scale.size(1) : 0;
  for (const at::Tensor* t : {&w.scale, &w.zero_point}) {
    if (!t->is_cuda() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->dim() != 2 ||
        t->size(0) > p.size(0) * 16 || t->size(0) <= (p.size(0) - 1) * 16 || t->size(1) != groups) {
      throw Error(ErrorCode::kInternal, std::string(caller) + ": scale and zero point must be contiguous fp32 [rows, groups]");
    }
  }
  if (w.group_size % kChunkColumns != 0) {
    throw Error(ErrorCode::kInvalidInput, std::string(caller) +
                                              ": the slice-pack kernels take per-channel scales or groups of a multiple of "
                                              "128 columns, got " + std::to_string(w.group_size));
  }
  SlicePackGemm a;
  a.words = p.data_ptr<int32_t>();
  a.rows = w.scale.size(0);
  a.chunks = p.size(1);
  a.width = w.width;
  a.step = float(w.step);
  a.scale = w.scale.data_ptr<float>();
  a.zero = w.zero_point.data_ptr<float>();
  a.groups = groups;
  a.group_size = w.group_size;
  return a;
}

// The kernels read whole 128-column chunks with 16-byte loads: x padded with zeros where the weight's
// columns stop short of a chunk (real models' widths are multiples of 128), 16-byte aligned.
at::Tensor whole_chunks(const at::Tensor& x, int64_t chunks) {
  const int64_t padded = chunks * kChunkColumns;
  at::Tensor xc = padded == x.size(1) ? x.contiguous() : at::constant_pad_nd(x, {0, padded - x.size(1)}, 0);
  if (reinterpret_cast<uintptr_t>(xc.data_ptr()) % 16 != 0) xc = xc.clone();
  return xc;
}

}  // namespace

void set_slice_pack_chained_launch(bool on) { chained_launch.store(on); }
bool slice_pack_chained_launch() { return chained_launch.load(); }

void set_slice_pack_row_tiles(int row_tiles) { batch1_row_tiles.store(row_tiles == 1 || row_tiles == 2 ? row_tiles : 0); }
int slice_pack_row_tiles() { return batch1_row_tiles.load(); }

void set_slice_pack_integer_mma(int mode) {
  integer_mma.store(mode == kSlicePackIntegerMmaOff || mode == kSlicePackIntegerMmaOn ? mode : kSlicePackIntegerMmaAuto);
}
int slice_pack_integer_mma() { return integer_mma.load(); }

bool slice_pack_matmul_uses_integer_mma(const SlicePackOperand& w, int64_t batch) {
  SlicePackGemm a = arguments(w, "slice_pack_matmul_uses_integer_mma");
  const c10::cuda::CUDAGuard guard(w.words.device());
  a.batch = int(batch);
  a.integer_mma = integer_mma.load();
  return slice_pack_picks_imma(a);
}

int64_t slice_pack_matmul_max_rows() { return kSlicePackGemmMaxBatch; }

at::Tensor slice_pack_matmul(const SlicePackOperand& w, const at::Tensor& x, const at::Tensor& bias) {
  SlicePackGemm a = arguments(w, "slice_pack_matmul");
  if (x.scalar_type() != at::kBFloat16 || x.dim() != 2 || x.size(1) != w.columns || x.size(0) < 1 ||
      x.size(0) > kSlicePackGemmMaxBatch || x.device() != w.words.device()) {
    throw Error(ErrorCode::kInternal, "slice_pack_matmul: x must be bf16 [1..16, columns] on the pack's device");
  }
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = whole_chunks(x, a.chunks);
  at::Tensor b;
  if (bias.defined()) {
    if (bias.numel() != a.rows) {
      throw Error(ErrorCode::kInvalidInput, "slice_pack_matmul: bias has " + std::to_string(bias.numel()) +
                                                " values, the weight " + std::to_string(a.rows) + " rows");
    }
    b = bias.to(x.device(), at::kBFloat16).contiguous();
  }
  at::Tensor y = at::empty({x.size(0), a.rows}, x.options());
  a.x = xc.data_ptr();
  a.batch = int(x.size(0));
  a.bias = b.defined() ? b.data_ptr() : nullptr;
  a.y = y.data_ptr();
  a.chained = chained_launch.load();
  a.row_tiles = batch1_row_tiles.load();
  a.integer_mma = integer_mma.load();
  check_launch(launch_slice_pack_gemm(a, stream_of(x)), "slice_pack_matmul");
  return y;
}

at::Tensor slice_pack_latency_floor(int64_t rows, int width, const at::Tensor& x, const at::Tensor& words,
                                    int blocks_per_sm) {
  if (!x.is_cuda() || x.scalar_type() != at::kBFloat16 || x.dim() != 2 || x.size(0) != 1 || x.size(1) < 1 || rows < 1 ||
      (width != 2 && width != 4 && width != 8) || (blocks_per_sm != 1 && blocks_per_sm != 2)) {
    throw Error(ErrorCode::kInternal,
                "slice_pack_latency_floor: x must be bf16 [1, columns] on CUDA, width 2, 4 or 8, blocks per SM 1 or 2");
  }
  const c10::cuda::CUDAGuard guard(x.device());
  SlicePackGemm a;
  a.rows = rows;
  a.chunks = (x.size(1) + kChunkColumns - 1) / kChunkColumns;
  a.width = width;
  if (words.defined()) {
    if (words.device() != x.device() || words.scalar_type() != at::kInt || !words.is_contiguous() ||
        words.sizes() != at::IntArrayRef{(rows + 15) / 16, a.chunks, width / 2, 32, 4}) {
      throw Error(ErrorCode::kInternal, "slice_pack_latency_floor: words must be the pack's int32 [row_tiles, chunks, width / 2, 32, 4]");
    }
    a.words = words.data_ptr<int32_t>();
  }
  const at::Tensor xc = whole_chunks(x, a.chunks);
  at::Tensor y = at::empty({1, rows}, x.options());
  a.x = xc.data_ptr();
  a.y = y.data_ptr();
  a.chained = chained_launch.load();
  check_launch(launch_slice_pack_latency_floor(a, blocks_per_sm, stream_of(x)), "slice_pack_latency_floor");
  return y;
}

at::Tensor slice_pack_dequantize(const SlicePackOperand& w) {
  const SlicePackGemm a = arguments(w, "slice_pack_dequantize");
  const c10::cuda::CUDAGuard guard(w.words.device());
  at::Tensor out = at::empty({a.rows, w.columns}, w.words.options().dtype(at::kBFloat16));
  check_launch(launch_slice_pack_dequantize(a, w.columns, out.data_ptr(), stream_of(w.words)), "slice_pack_dequantize");
  return out;
}

}  // namespace matquant::kernels
