// The build without fused CUDA kernels (MATQUANT_CUDA_KERNELS off, or a CPU-only LibTorch):
// callers always take their ATen path; reaching a kernel is a programming error.
#include "kernels/adamw_ops.h"
#include "kernels/captured_work.h"
#include "kernels/fused_ops.h"

#include "common/error.h"

namespace matquant::kernels {

bool fused_kernels_compiled() { return false; }
bool fused_kernels_enabled(const at::Tensor&) { return false; }
bool set_fused_kernels(bool) { return false; }

static at::Tensor unavailable(const char* name) {
  throw Error(ErrorCode::kInternal, std::string(name) + ": built without fused CUDA kernels (MATQUANT_CUDA_KERNELS)");
}
at::Tensor softcapped_softmax(const at::Tensor&, const at::Tensor&, double, double) {
  return unavailable("softcapped_softmax");
}
bool softcapped_attention_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
bool decode_attention_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                              const at::Tensor&, const at::Tensor&) {
  return false;
}
at::Tensor decode_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&, double, double, const at::Tensor&,
                            const at::Tensor&) {
  return unavailable("decode_attention");
}
bool decode_attention_rotates(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
bool set_softcapped_attention_kernel(bool) { return false; }
at::Tensor softcapped_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                double) {
  return unavailable("softcapped_attention");
}
at::Tensor softcapped_cross_entropy(const at::Tensor&, const at::Tensor&, double, int64_t) {
  return unavailable("softcapped_cross_entropy");
}
at::Tensor rms_norm(const at::Tensor&, const at::Tensor&, double, bool) { return unavailable("rms_norm"); }
bool softcapped_attention_core_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
at::Tensor softcapped_attention_core(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                     double) {
  return unavailable("softcapped_attention_core");
}
std::pair<at::Tensor, at::Tensor> rms_norm_passing(const at::Tensor&, const at::Tensor&, double, bool) {
  return {unavailable("rms_norm_passing"), at::Tensor()};
}
bool residual_rms_norm_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, bool) {
  return false;
}
ResidualNormed residual_rms_norm(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                 bool) {
  unavailable("residual_rms_norm");
  return {};
}
bool adamw_update_applies(const std::vector<at::Tensor>&, const std::vector<at::Tensor>&,
                          const std::vector<at::Tensor>&, const std::vector<at::Tensor>&) {
  return false;
}
void adamw_update(const std::vector<at::Tensor>&, const std::vector<at::Tensor>&, const std::vector<at::Tensor>&,
                  const std::vector<at::Tensor>&, const std::vector<int64_t>&, const AdamWSettings&,
                  const at::Tensor&) {
  unavailable("adamw_update");
}
bool rms_norm_add_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool) { return false; }
at::Tensor rms_norm_add(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, bool) {
  return unavailable("rms_norm_add");
}
bool rotary_embedding_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
at::Tensor rotary_embedding(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool) {
  return unavailable("rotary_embedding");
}
at::Tensor gated_activation(const at::Tensor&, const at::Tensor&, bool) { return unavailable("gated_activation"); }
at::Tensor fake_quantize_minmax(const at::Tensor&, int64_t, int, int, bool) { return unavailable("fake_quantize_minmax"); }
at::Tensor fake_quantize_clipped(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int, int, bool) {
  return unavailable("fake_quantize_clipped");
}
bool fake_quantize_clipped_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t) { return false; }
at::Tensor fake_quantize_activations_static(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int) {
  return unavailable("fake_quantize_activations_static");
}
at::Tensor fake_quantize_activations_mx(const at::Tensor&, int, int64_t) { return unavailable("fake_quantize_activations_mx"); }

std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_affine(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, int) {
  unavailable("gptq_block_affine");
  return {};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_nested(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, int, const std::vector<int>&,
                                                                 const std::vector<double>&, bool) {
  unavailable("gptq_block_nested");
  return {};
}

}  // namespace matquant::kernels

#include "kernels/bit_plane_ops.h"

namespace matquant::kernels {
int64_t bit_plane_matmul_max_rows() { return 0; }
at::Tensor bit_plane_matmul(const BitPlaneOperand&, int, bool, const at::Tensor&, const at::Tensor&) {
  return unavailable("bit_plane_matmul");
}
at::Tensor bit_plane_dequantize(const BitPlaneOperand&, int, bool) { return unavailable("bit_plane_dequantize"); }
}  // namespace matquant::kernels

#include "kernels/master_weight_ops.h"

namespace matquant::kernels {
bool master_weight_training(const at::Tensor&) { return false; }
WeightRangeScope::WeightRangeScope() = default;
WeightRangeScope::WeightRangeScope(std::vector<int>) {}
WeightRangeScope::~WeightRangeScope() = default;
int64_t weight_range_reuses() { return 0; }
int64_t prepared_weight_takes() { return 0; }
bool precisions_prepared_together() { return false; }
bool set_precisions_prepared_together(bool) { return false; }
DeferredGradientScope::DeferredGradientScope(int) {}
DeferredGradientScope::~DeferredGradientScope() = default;
void DeferredGradientScope::flush() {}
bool gradients_deferred() { return false; }
bool set_gradients_deferred(bool) { return false; }
bool wants_bf16_input_copy(const at::Tensor&) { return false; }
void offer_bf16_input(const at::Tensor&, const at::Tensor&) {}
int64_t offered_bf16_inputs_taken() { return 0; }
bool weight_ranges_shared() { return false; }
void note_weights_changed() {}
bool set_master_weight_ops(bool) { return false; }
at::Tensor master_linear(const at::Tensor&, const at::Tensor&) { return unavailable("master_linear"); }
std::vector<at::Tensor> master_linears(const at::Tensor&, const std::vector<at::Tensor>&,
                                       const std::vector<std::array<int64_t, 4>>&) {
  return {unavailable("master_linears")};
}
at::Tensor quantized_master_linear(const at::Tensor&, const at::Tensor&, int64_t, int, int, bool) {
  return unavailable("quantized_master_linear");
}
at::Tensor master_embedding(const at::Tensor&, const at::Tensor&) { return unavailable("master_embedding"); }
at::Tensor training_linear(const at::Tensor& x, const at::Tensor& weight) { return at::linear(x, weight); }
bool autocast_forward_only(const at::Tensor&) { return false; }
at::Tensor autocast_linear_forward(const at::Tensor&, const at::Tensor&) { return unavailable("autocast_linear_forward"); }
at::Tensor autocast_quantized_linear_forward(const at::Tensor&, const at::Tensor&, int64_t, int, int, bool) {
  return unavailable("autocast_quantized_linear_forward");
}
}  // namespace matquant::kernels

#include "kernels/slice_pack_ops.h"

namespace matquant::kernels {
void set_slice_pack_chained_launch(bool) {}
bool slice_pack_chained_launch() { return false; }
void set_slice_pack_row_tiles(int) {}
int slice_pack_row_tiles() { return 0; }
void set_slice_pack_integer_mma(int) {}
int slice_pack_integer_mma() { return 0; }
bool slice_pack_matmul_uses_integer_mma(const SlicePackOperand&, int64_t) { return false; }
int64_t slice_pack_matmul_max_rows() { return 0; }
at::Tensor slice_pack_matmul(const SlicePackOperand&, const at::Tensor&, const at::Tensor&) {
  return unavailable("slice_pack_matmul");
}
at::Tensor slice_pack_dequantize(const SlicePackOperand&) { return unavailable("slice_pack_dequantize"); }
at::Tensor slice_pack_latency_floor(int64_t, int, const at::Tensor&, const at::Tensor&, int) {
  return unavailable("slice_pack_latency_floor");
}
// CUDA graphs: none without the CUDA build.
bool captured_work_available() { return false; }
struct CapturedWork::Impl {};
CapturedWork::CapturedWork(int) {}
CapturedWork::~CapturedWork() = default;
void CapturedWork::capture(const std::function<void()>&, const std::function<void()>&) {
  throw Error(ErrorCode::kInternal, "CapturedWork: built without CUDA kernels (MATQUANT_CUDA_KERNELS)");
}
const std::map<std::string, int>& CapturedWork::kernel_census() const {
  static const std::map<std::string, int> none;
  return none;
}
void CapturedWork::replay() {
  throw Error(ErrorCode::kInternal, "CapturedWork: built without CUDA kernels (MATQUANT_CUDA_KERNELS)");
}

}  // namespace matquant::kernels
