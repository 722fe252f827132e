#pragma once
// Seed 004's activation quantization for an evaluation: every projection in scope fake-quantizes
// its input (quant/activation_quant.h). Static INT ranges are observed first, per projection and
// input channel, over calibration sequences run through the model as it will be evaluated (its
// weights already at the evaluated precision, activations not yet quantized), as a MinMax observer
// sees a model between torch.ao's prepare and convert steps.
#include "model/decoder.h"
#include "quant/weight_format.h"

namespace matquant::jobs {

// calibration: int64 [N, T] token sequences (unused for MXINT, which scales each block as it comes).
// Returns the number of projections whose inputs are now quantized.
int64_t quantize_activations(model::DecoderModel& net, const quant::WeightFormat& format,
                             const at::Tensor& calibration, int64_t batch_size);

}  // namespace matquant::jobs
