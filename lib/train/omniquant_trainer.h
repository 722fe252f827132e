#pragma once
// OmniQuant with the MatQuant objective (Eq. 3-5 with Eq. 7): block by block, learn the clipping
// (gamma, beta) of every quantized projection so that the block's output at each sliced precision r
// reproduces its full-precision output, loss sum_r lambda_r * ||F_l(W, X) - F_l(S(Q(W), r), X)||^2.
//
// As in the OmniQuant reference (OpenGVLab/OmniQuant, quantize/omniquant.py) two input streams are
// kept: the full-precision stream (targets) and the quantized stream (inputs of the block being
// trained); here one quantized stream per trained precision, so each r-bit model sees its own
// quantized predecessors. Only the block being trained lives on the device; the rest stays where the
// model is (CPU for large models). With learnable_equivalent_transformation, each block also learns
// OmniQuant's per-channel scales (lib/train/equivalent_transformation.h), shared by every
// precision and trained by the same summed loss, then folded into the weights before freezing.
#include "model/decoder.h"
#include "train/objective.h"

#include <functional>
#include <map>

namespace matquant::train {

struct BlockReport {
  int64_t layer = 0;
  int64_t layers = 0;
  std::map<int, double> loss_by_bits;  // last epoch's mean per precision
  std::vector<std::map<int, double>> epoch_losses;  // every epoch's mean per precision
  double seconds = 0.0;                // this block
  double peak_device_bytes = 0.0;      // CUDA only
};

struct OmniQuantConfig {
  Objective objective = Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  int64_t epochs = 2;
  int64_t batch_size = 4;
  double clipping_learning_rate = 1e-2;
  bool learnable_equivalent_transformation = false;
  double let_learning_rate = 5e-3;  // OmniQuant main.py --let_lr (clipping: --lwc_lr 1e-2)
  // LET scales start from the identity (s = 1), exactly where clipping alone starts; true starts
  // from SmoothQuant's max|X|^0.5 / max|W|^0.5 as OmniQuant does. OmniQuant uses that start for
  // weight-activation quantization; for weight-only it made the tiny model's block loss worse
  // after 10 epochs (docs/training.md), so the identity is the default here.
  bool let_smoothquant_init = false;
  bool keep_activations_on_cpu = false;  // for calibration sets larger than device memory
  std::function<void(const BlockReport&)> on_block;
};

struct CalibrationSummary {
  std::vector<BlockReport> blocks;
  double seconds = 0.0;
  bool diverged = false;
};

// The model must already have quantizers with learnable clipping (enable_quantization).
// calibration: int64 [N, T]. device: where blocks are trained.
CalibrationSummary calibrate_omniquant(model::DecoderModel& model, const at::Tensor& calibration,
                                       const OmniQuantConfig& config, const at::Device& device);

}  // namespace matquant::train
