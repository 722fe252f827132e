// compressed-tensors' naive-quantized export of a slice (model/compressed_tensors_export.h): the
// stored values dequantize by that package's rule, (value - zero point) * scale, to exactly
// NestedCodes::dequantize's weight, for every r of c = 8, both slicing equations, per channel and
// per group; the values fit the declared bits; the config groups modules by (bits, group size).
// (Loading through transformers itself: tests/cli/check_export_compressed_tensors.sh.)
#include "model/compressed_tensors_export.h"

#include <gtest/gtest.h>

using namespace matquant;

namespace {

quant::NestedCodes every_code_store(int64_t group_size) {
  quant::NestedCodes codes;
  codes.codes = at::arange(256, at::kLong).repeat({6, 2}).to(at::kByte);  // [6, 512], every code
  const int64_t groups = group_size > 0 ? 512 / group_size : 1;
  codes.scale = at::rand({6, groups}) * 0.01 + 1e-3;
  codes.zero_point = at::randint(0, 256, {6, groups}, at::kLong).to(at::kFloat);
  codes.bits = 8;
  codes.group_size = group_size;
  return codes;
}

// compressed-tensors' dequantization: (x_q - zero_point) * scale, parameters broadcast per group.
at::Tensor dequantize_like_compressed_tensors(const model::CompressedTensorsWeight& w) {
  const int64_t per = w.group_size > 0 ? w.group_size : w.weight.size(1);
  const at::Tensor scale = w.scale.repeat_interleave(per, 1), zero = w.zero_point.repeat_interleave(per, 1);
  return (w.weight.to(at::kFloat) - zero) * scale;
}

}  // namespace

TEST(CompressedTensorsExport, ValuesDequantizeExactlyToTheSlice) {
  at::manual_seed(0);
  for (int64_t group : {int64_t(0), int64_t(128)}) {
    const quant::NestedCodes codes = every_code_store(group);
    for (auto mode : {quant::SliceMode::kClamped, quant::SliceMode::kExtraPrecision}) {
      for (int r = 1; r <= 8; ++r) {
        const model::CompressedTensorsWeight w = model::compressed_tensors_weight(codes, r, mode);
        const int expected_bits = r < 8 && mode == quant::SliceMode::kExtraPrecision ? r + 1 : r;
        EXPECT_EQ(w.num_bits, expected_bits);
        EXPECT_EQ(w.weight.scalar_type(), at::kChar);
        EXPECT_GE(w.weight.min().item<int>(), -(1 << (w.num_bits - 1)));
        EXPECT_LE(w.weight.max().item<int>(), (1 << (w.num_bits - 1)) - 1);
        EXPECT_TRUE(at::equal(dequantize_like_compressed_tensors(w), codes.dequantize(r, mode, at::kFloat)))
            << "r " << r << " group " << group;
      }
    }
  }
}

TEST(CompressedTensorsExport, ConfigGroupsModulesByBitsAndGroupSize) {
  const quant::NestedCodes codes = every_code_store(0);
  const auto int4 = model::compressed_tensors_weight(codes, 4, quant::SliceMode::kClamped);
  const auto int2 = model::compressed_tensors_weight(codes, 2, quant::SliceMode::kClamped);
  const nlohmann::json config =
      model::compressed_tensors_config({{"model.layers.0.mlp.up_proj", int4}, {"model.layers.1.mlp.up_proj", int2},
                                        {"model.layers.0.mlp.down_proj", int4}});
  EXPECT_EQ(config["quant_method"], "compressed-tensors");
  EXPECT_EQ(config["quantization_status"], "compressed");
  ASSERT_EQ(config["config_groups"].size(), 2u);
  for (const auto& group : config["config_groups"]) {
    EXPECT_EQ(group["format"], "naive-quantized");
    EXPECT_EQ(group["weights"]["zp_dtype"], "float32");
    EXPECT_EQ(group["weights"]["strategy"], "channel");
    EXPECT_EQ(group["targets"].size(), group["weights"]["num_bits"] == 4 ? 2u : 1u);
  }
}
