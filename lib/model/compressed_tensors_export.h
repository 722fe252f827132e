#pragma once
// One precision of a nested checkpoint in compressed-tensors' "naive-quantized" layout, which
// transformers loads through the compressed-tensors package (docs/serving.md "Export").
//
// The r-bit slice's weight is s (2^(c-r) L - z), L = S(q, r) / 2^(c-r) the level. Stored: the
// signed value L - 2^(b-1) as int8, scale s 2^(c-r) and zero point z / 2^(c-r) - 2^(b-1), with
// b = r bits (r + 1 for Eq. 8, whose extra bucket L = 2^r needs one more). compressed-tensors
// dequantizes (value - zero point) * scale: the same real number, rounded once, so the weights it
// gives equal NestedCodes::dequantize's bit for bit. The zero point is generally fractional, so it
// is stored as fp32 (zp_dtype float32); the packed int4 layout ("pack-quantized") keeps integer zero
// points and cannot hold such a slice exactly, so it is not used.
#include "quant/nested_codes.h"

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace matquant::model {

struct CompressedTensorsWeight {
  at::Tensor weight;      // int8 [out, in]
  at::Tensor scale;       // float32 [out, groups]
  at::Tensor zero_point;  // float32 [out, groups]
  int num_bits = 8;
  int64_t group_size = 0;  // 0 = per output channel
};

CompressedTensorsWeight compressed_tensors_weight(const quant::NestedCodes& codes, int bits, quant::SliceMode mode);

// config.json's "quantization_config": one config group per (bits, group size), targeting its
// modules by name (module name = tensor name without ".weight").
nlohmann::json compressed_tensors_config(const std::vector<std::pair<std::string, CompressedTensorsWeight>>& modules);

}  // namespace matquant::model
