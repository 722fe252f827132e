#pragma once
// Hugging Face model directories in and out: config.json + model.safetensors (or shards).
#include "model/decoder.h"

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace matquant::model {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

// Reads config.json and every weight; a missing, truncated, mis-shaped or mistyped tensor is one
// error naming the tensor and file.
DecoderModel load_pretrained(const std::string& directory, const LoadOptions& options = {});

struct SaveOptions {
  // Above this many bytes of weights, the Hugging Face sharded layout: model-0000K-of-0000N.safetensors
  // files of at most this size (a larger tensor alone in its file) and model.safetensors.index.json
  // (metadata.total_size, weight_map), as transformers' save_pretrained(max_shard_size="5GB") writes.
  int64_t max_shard_bytes = 5'000'000'000;
  std::optional<at::ScalarType> dtype;  // convert the weights (e.g. bf16); default: the model's
  // Frozen quantized layers as compressed-tensors' naive-quantized int8 values with fp32 scales
  // and zero points (model/compressed_tensors_export.h) instead of dequantized weights.
  bool compressed_tensors = false;
};

// Writes config.json and the weights into `directory` (created if needed). Quantized layers are
// written as the dequantized weight at their current precision, so transformers can load the
// result as an ordinary model (or, with compressed_tensors, as that package's quantized layout). The index, or the single file, is written last: a reader never
// sees an index naming a shard not yet complete.
void save_pretrained(DecoderModel& model, const std::string& directory, const SaveOptions& options = {});

}  // namespace matquant::model
