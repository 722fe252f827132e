#pragma once
// Options shared by the commands that load a model themselves (forward, generate).
#include "model/decoder.h"

#include <ATen/ATen.h>

#include <string>

namespace matquant::apps {

// "fp32" | "bf16" | "fp16" (or torch's names); anything else is a usage error.
at::ScalarType parse_dtype(const std::string& name);

// Wraps the projections in `scope` ("ffn" | "ffn+attn") with quantizers and freezes their current
// weights into nested int8 code stores (MinMax), so any precision can then be served.
void quantize_in_place(model::DecoderModel& model, const std::string& scope);

}  // namespace matquant::apps
