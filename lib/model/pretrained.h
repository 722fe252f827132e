#pragma once
// Hugging Face model directories in and out: config.json + model.safetensors (or shards).
#include "model/decoder.h"

#include <ATen/ATen.h>

#include <string>

namespace matquant::model {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

// Reads config.json and every weight; a missing, truncated, mis-shaped or mistyped tensor is one
// error naming the tensor and file.
DecoderModel load_pretrained(const std::string& directory, const LoadOptions& options = {});

// Writes config.json and model.safetensors into `directory` (created if needed). Quantized layers
// are written as the dequantized weight at their current precision, so transformers can load the
// result as an ordinary model.
void save_pretrained(DecoderModel& model, const std::string& directory);

}  // namespace matquant::model
