#pragma once
// GPTQ over a whole decoder, block by block as the GPTQ reference and llm-compressor's sequential
// pipeline run it: the calibration sequences pass through the blocks already quantized, each block's
// projections collect the Hessian of their inputs in one full-precision pass, every projection is
// quantized (quant/gptq.h), and the quantized block's outputs feed the next block. Projections that
// read the same input (q/k/v, gate/up) share one Hessian and are quantized as one stacked matrix.
//
// With several precisions (MatQuant's nested codes) the codes serve every r, and the next block is
// fed by the precision with the largest lambda (ties: the fewest bits), the one the objective favours.
// A block may first be smoothed (SmoothQuant or AWQ, train/activation_aware_scaling.h), and GPTQ
// may be replaced by round to nearest: seed 004's RTN, SQ, AWQ, SQ + GPTQ and AWQ + GPTQ rows.
#include "model/decoder.h"
#include "quant/gptq.h"
#include "train/activation_aware_scaling.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace matquant::train {

struct GptqBlockReport {
  int64_t layer = 0;
  int64_t layers = 0;
  double loss = 0.0;                      // GPTQ's loss summed over the block's projections
  std::map<std::string, double> loss_by_group;  // "qkv", "o", "gate_up", "down"
  double hessian_seconds = 0.0;           // the full-precision pass collecting the Hessians
  double quantize_seconds = 0.0;          // GPTQ itself
  double seconds = 0.0;                   // the whole block, including the quantized pass
  double peak_device_bytes = 0.0;         // CUDA only
  int64_t hessian_fallbacks = 0;          // projections rounded to nearest (H not positive definite)
  double smoothing_seconds = 0.0;         // SmoothQuant statistics or AWQ's search
  std::map<std::string, double> smoothing_alpha;  // per pair: SmoothQuant's alpha or AWQ's choice
};

struct GptqCalibrationConfig {
  quant::GptqConfig gptq;
  // Round to nearest instead of GPTQ (an identity Hessian moves no error): seed 004's RTN rows, or
  // AWQ / SmoothQuant alone with `smoothing`. No Hessian pass runs.
  bool round_to_nearest = false;
  // SmoothQuant or AWQ folded into each block before it is quantized (seed 004: first smooth, then
  // GPTQ). AWQ's search scores its grid on the first sequences up to awq_search_tokens.
  Smoothing smoothing = Smoothing::kNone;
  int64_t awq_search_tokens = 65536;  // llm-awq: 128 samples x 512 tokens
  std::vector<int> bits = {8, 4, 2};
  std::vector<double> lambdas = {0.1, 0.1, 1.0};
  int64_t batch_size = 4;
  std::function<void(const GptqBlockReport&)> on_block;
};

struct GptqSummary {
  std::vector<GptqBlockReport> blocks;
  double seconds = 0.0;
  int feed_bits = 0;  // the precision whose outputs fed each next block
};

// The model's projections in scope must have quantizers (enable_quantization, no learnable
// clipping); on return they hold frozen codes. calibration: int64 [N, T]; device: where blocks run.
GptqSummary calibrate_gptq(model::DecoderModel& model, const at::Tensor& calibration,
                           const GptqCalibrationConfig& config, const at::Device& device);

}  // namespace matquant::train
