#include "model_options.h"

#include "common/error.h"

namespace matquant::apps {

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "fp16" || name == "float16") return at::kHalf;
  throw_usage("--dtype must be fp32, bf16 or fp16, got '" + name + "'");
}

void quantize_in_place(model::DecoderModel& model, const std::string& scope) {
  model->enable_quantization(model::parse_quant_scope(scope), model::QuantizerConfig{});
  for (auto& [name, layer, linear] : model->quantized_linears()) linear->freeze_codes();
}

}  // namespace matquant::apps
