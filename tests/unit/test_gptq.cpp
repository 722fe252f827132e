// GPTQ (lib/quant/gptq.h) against llm-compressor's quantize_weight on the same weight, Hessian,
// scales and zero points (tests/reference/make_gptq_fixtures.py wrote the fixture), and the nested
// and MX grids against their own definitions: what GPTQ is for (a smaller output error than round
// to nearest) and what the nested objective is for (a better favoured slice than slicing plain GPTQ).
#include "common/error.h"
#include "kernels/fused_ops.h"
#include "quant/clipping_search.h"
#include "quant/gptq.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

using namespace matquant;
using namespace matquant::quant;

namespace {

at::Tensor matrix(const nlohmann::json& rows) {
  std::vector<float> flat;
  for (const auto& row : rows) {
    for (const auto& v : row) flat.push_back(v.get<float>());
  }
  return at::tensor(flat).reshape({int64_t(rows.size()), -1});
}

nlohmann::json load_fixture() {
  std::ifstream in(std::string(MATQUANT_SOURCE_DIR) + "/tests/fixtures/gptq/reference.json");
  return nlohmann::json::parse(in);
}

// Correlated inputs with outlier channels: where GPTQ's error feedback matters.
struct Problem {
  at::Tensor weight, inputs, hessian;
};

Problem make_problem(int64_t rows, int64_t columns, int64_t samples, uint64_t seed) {
  at::manual_seed(seed);
  Problem p;
  p.weight = at::randn({rows, columns});
  p.inputs = at::matmul(at::randn({samples, columns}), at::eye(columns) + 0.3 * at::randn({columns, columns}));
  p.inputs.select(1, 3).mul_(6.0);
  HessianAccumulator h;
  h.add(p.inputs);
  p.hessian = h.hessian();
  return p;
}

double output_error(const Problem& p, const at::Tensor& quantized) {
  return at::matmul(p.inputs, (p.weight - quantized).t()).square().mean().item<double>();
}

}  // namespace

void check_against_fixture(const at::Device& device) {
  const auto fixture = load_fixture();
  const at::Tensor weight = matrix(fixture["weight"]).to(device);
  const at::Tensor hessian = matrix(fixture["hessian"]).to(device);
  for (const auto& c : fixture["cases"]) {
    const int bits = c["bits"];
    const int64_t group = c["group_size"];
    const AffineParams params{matrix(c["scale"]).unsqueeze(-1).to(device), matrix(c["zero_point"]).unsqueeze(-1).to(device)};
    NestedAffineGrid grid(weight, bits, group, {bits}, {1.0}, SliceMode::kClamped, params);
    GptqConfig config;
    config.block_size = c["block_size"];
    config.dampening = fixture["dampening"];
    config.activation_order = c["act_order"];
    const auto result = gptq_quantize(weight, hessian, grid, config);
    const at::Tensor expected = matrix(c["codes"]).to(at::kLong);
    const at::Tensor ours = grid.codes().codes.to(at::kLong).cpu();
    const int64_t differing = (ours != expected).sum().item<int64_t>();
    // Float32 sums in a different order may move a value across a rounding midpoint, and GPTQ
    // then carries that difference forward; on this fixture every code agrees.
    EXPECT_EQ(differing, 0) << c["name"];
    EXPECT_NEAR(result.loss, c["loss"].get<double>(), 1e-3 * c["loss"].get<double>()) << c["name"];
    EXPECT_EQ(result.hessian_fallback, c["fallback"].get<bool>());
    // The dead input column is zeroed before rounding, as GPTQ does.
    const at::Tensor dead = grid.codes().dequantize(bits).select(1, 17);
    EXPECT_LT(dead.abs().max().item<double>(), grid.codes().scale.max().item<double>() * 0.51) << c["name"];
  }
}

TEST(Gptq, MatchesLlmCompressorCodes) { check_against_fixture(at::kCPU); }

// On CUDA the plain grid rounds a whole lazy block in one kernel (lib/kernels/gptq_block.cu); its
// codes are the reference's too, and the column loop's on the same device.
TEST(Gptq, FusedBlockKernelMatchesLlmCompressorAndTheColumnLoop) {
  if (!at::hasCUDA() || !kernels::fused_kernels_compiled()) GTEST_SKIP() << "needs CUDA and the fused kernels";
  check_against_fixture(at::kCUDA);
  const bool previous = kernels::set_fused_kernels(false);
  check_against_fixture(at::kCUDA);
  kernels::set_fused_kernels(previous);
  const auto p = make_problem(300, 256, 1024, 5);  // rows not a multiple of the kernel's 64
  for (int64_t group : {0, 64}) {
    NestedAffineGrid fused(p.weight.cuda(), 4, group, {4}, {1.0}, SliceMode::kClamped);
    gptq_quantize(p.weight.cuda(), p.hessian.cuda(), fused, {});
    kernels::set_fused_kernels(false);
    NestedAffineGrid loop(p.weight.cuda(), 4, group, {4}, {1.0}, SliceMode::kClamped);
    gptq_quantize(p.weight.cuda(), p.hessian.cuda(), loop, {});
    kernels::set_fused_kernels(previous);
    const double differing = (fused.codes().codes != loop.codes().codes).sum().item<double>();
    EXPECT_EQ(differing, 0.0) << group;
  }
  // Nested grids: the kernel's candidate search finds the full table's optimum.
  struct Nested {
    std::vector<int> bits;
    std::vector<double> lambdas;
    SliceMode mode;
  };
  for (const auto& n : {Nested{{8, 4, 2}, {0.1, 0.1, 1.0}, SliceMode::kClamped},
                        Nested{{8, 4, 2}, {1.0, 1.0, 1.0}, SliceMode::kExtraPrecision},
                        Nested{{2}, {1.0}, SliceMode::kClamped}, Nested{{8, 6, 3}, {1.0, 0.5, 0.25}, SliceMode::kClamped}}) {
    for (int64_t group : {0, 64}) {
      NestedAffineGrid fused(p.weight.cuda(), 8, group, n.bits, n.lambdas, n.mode);
      const auto fused_result = gptq_quantize(p.weight.cuda(), p.hessian.cuda(), fused, {});
      kernels::set_fused_kernels(false);
      NestedAffineGrid loop(p.weight.cuda(), 8, group, n.bits, n.lambdas, n.mode);
      const auto loop_result = gptq_quantize(p.weight.cuda(), p.hessian.cuda(), loop, {});
      kernels::set_fused_kernels(previous);
      // Error feedback carries a last-bit difference in a loss sum (the table's reduction order is
      // CUDA's) into later columns, so codes are compared without it below; here the objective.
      EXPECT_NEAR(fused_result.loss, loop_result.loss, 1e-3 * loop_result.loss) << n.bits.size() << " precisions";
      // With an identity Hessian no error moves: every code is the table's choice for its value.
      const at::Tensor identity = at::eye(p.weight.size(1), p.weight.options()).cuda();
      NestedAffineGrid fused_alone(p.weight.cuda(), 8, group, n.bits, n.lambdas, n.mode);
      gptq_quantize(p.weight.cuda(), identity, fused_alone, {});
      kernels::set_fused_kernels(false);
      NestedAffineGrid loop_alone(p.weight.cuda(), 8, group, n.bits, n.lambdas, n.mode);
      gptq_quantize(p.weight.cuda(), identity, loop_alone, {});
      kernels::set_fused_kernels(previous);
      // They may differ only where two codes' objectives agree to float32's resolution (the table
      // sums its terms in CUDA's reduction order): checked in double for every disagreement.
      const at::Tensor differ = (fused_alone.codes().codes != loop_alone.codes().codes).cpu();
      const at::Tensor positions = differ.nonzero();
      EXPECT_LT(positions.size(0), differ.numel() / 1000) << n.bits.size() << " precisions, group " << group;
      const at::Tensor kernel_codes = fused_alone.codes().codes.cpu(), table_codes = loop_alone.codes().codes.cpu();
      const at::Tensor scales = loop_alone.codes().scale.cpu(), zeros = loop_alone.codes().zero_point.cpu();
      double lambda_sum = 0.0;
      for (double l : n.lambdas) lambda_sum += l;
      for (int64_t i = 0; i < positions.size(0); ++i) {
        const int64_t r = positions[i][0].item<int64_t>(), c = positions[i][1].item<int64_t>();
        const double w = p.weight[r][c].item<double>();
        const int64_t g = group > 0 ? c / group : 0;
        const double scale = scales[r][g].item<double>(), zero = zeros[r][g].item<double>();
        auto objective = [&](int code) {
          double total = 0.0;
          for (size_t k = 0; k < n.bits.size(); ++k) {
            const double sliced = double(slice_code(code, 8, n.bits[k], n.mode));
            total += n.lambdas[k] / lambda_sum * std::pow(w - (sliced - zero) * scale, 2);
          }
          return total;
        };
        const int kernel_code = kernel_codes[r][c].item<int>(), table_code = table_codes[r][c].item<int>();
        EXPECT_NEAR(objective(kernel_code), objective(table_code), 1e-6 * objective(table_code) + 1e-12)
            << "w " << w << " scale " << scale << " zero " << zero << ": kernel code " << kernel_code << ", table code "
            << table_code;
      }
    }
  }
}

TEST(HessianAccumulator, IsTwiceTheMeanOuterProductOverBatches) {
  const at::Tensor x = at::randn({10, 3, 6});
  HessianAccumulator h;
  h.add(x.slice(0, 0, 4));
  h.add(x.slice(0, 4, 10));
  const at::Tensor rows = x.reshape({-1, 6});
  EXPECT_EQ(h.rows(), 30);
  EXPECT_TRUE(at::allclose(h.hessian(), 2.0 * at::matmul(rows.t(), rows) / 30.0, 1e-5, 1e-5));
}

TEST(Gptq, BeatsRoundToNearestOnCorrelatedInputs) {
  const auto p = make_problem(32, 128, 512, 1);
  for (int bits : {4, 3}) {
    NestedAffineGrid grid(p.weight, bits, 0, {bits}, {1.0}, SliceMode::kClamped);
    const auto result = gptq_quantize(p.weight, p.hessian, grid, {});
    const at::Tensor rtn = NestedCodes::quantize(p.weight, bits, 0).dequantize(bits);
    EXPECT_LT(output_error(p, result.quantized), 0.8 * output_error(p, rtn)) << bits;
    EXPECT_TRUE(at::allclose(result.quantized, grid.codes().dequantize(bits), 1e-5, 1e-5));
  }
}

// MatQuant on GPTQ: codes chosen for the lambda-weighted slices serve int2 better than plain int8
// GPTQ sliced to int2.
TEST(Gptq, NestedObjectiveFavoursItsWeightedSlice) {
  const auto p = make_problem(32, 128, 512, 2);
  NestedAffineGrid plain(p.weight, 8, 0, {8}, {1.0}, SliceMode::kClamped);
  gptq_quantize(p.weight, p.hessian, plain, {});
  NestedAffineGrid nested(p.weight, 8, 0, {8, 4, 2}, {0.1, 0.1, 1.0}, SliceMode::kClamped);
  gptq_quantize(p.weight, p.hessian, nested, {});
  const double plain_int2 = output_error(p, plain.codes().dequantize(2));
  const double nested_int2 = output_error(p, nested.codes().dequantize(2));
  EXPECT_LT(nested_int2, 0.7 * plain_int2);
  // The objective as a whole, sum_r lambda_r ||(W - Q_r) X||^2, is what the nested codes lower. (Its
  // error feedback is the weighted mean of the slices' errors, dominated here by int2's, so the
  // int8 slice pays: lambda_8 = 0.1 says int8 matters less.)
  auto objective = [&](const NestedCodes& codes) {
    return 0.1 * output_error(p, codes.dequantize(8)) + 0.1 * output_error(p, codes.dequantize(4)) +
           output_error(p, codes.dequantize(2));
  };
  EXPECT_LT(objective(nested.codes()), 0.8 * objective(plain.codes()));
  // One precision at c bits is plain GPTQ, whichever path computes it.
  NestedAffineGrid table(p.weight, 4, 0, {4, 4}, {0.5, 0.5}, SliceMode::kClamped);
  NestedAffineGrid direct(p.weight, 4, 0, {4}, {1.0}, SliceMode::kClamped);
  gptq_quantize(p.weight, p.hessian, table, {});
  gptq_quantize(p.weight, p.hessian, direct, {});
  EXPECT_TRUE(at::equal(table.codes().codes, direct.codes().codes));
}

// Seed 004's Algorithm 1: micro-blocks of the MX block size rounded at once under one shared scale.
TEST(Gptq, MxMicroBlocksBeatRoundToNearest) {
  const auto p = make_problem(32, 128, 512, 3);
  const MxFormat format{4, 32};
  NestedMxGrid grid(32, 128, format, {4}, {1.0});
  const auto result = gptq_quantize(p.weight, p.hessian, grid, {});
  const at::Tensor ours = grid.codes().dequantize();
  EXPECT_TRUE(at::allclose(result.quantized, ours, 1e-6, 1e-6));
  EXPECT_LE(grid.codes().codes.abs().max().item<int>(), 7);
  EXPECT_LT(output_error(p, ours), 0.8 * output_error(p, mx_fake_quantize(p.weight, format)));
  // A block's scale comes from its contiguous columns: activation order cannot apply.
  GptqConfig reordered;
  reordered.activation_order = true;
  EXPECT_THROW(gptq_quantize(p.weight, p.hessian, grid, reordered), Error);
}

TEST(Gptq, MatryoshkaMxServesEverySliceUnderOneScale) {
  const auto p = make_problem(16, 64, 256, 4);
  NestedMxGrid nested(16, 64, {8, 32}, {8, 4, 2}, {0.1, 0.1, 1.0});
  gptq_quantize(p.weight, p.hessian, nested, {});
  NestedMxGrid plain(16, 64, {8, 32}, {8}, {1.0});
  gptq_quantize(p.weight, p.hessian, plain, {});
  const double nested_int2 = output_error(p, slice_mx_codes(nested.codes(), 2).dequantize());
  const double plain_int2 = output_error(p, slice_mx_codes(plain.codes(), 2).dequantize());
  EXPECT_LT(nested_int2, plain_int2);
}

TEST(Gptq, RefusesMismatchedShapes) {
  const at::Tensor w = at::randn({4, 8});
  NestedAffineGrid grid(w, 4, 0, {4}, {1.0}, SliceMode::kClamped);
  EXPECT_THROW(gptq_quantize(w, at::eye(6), grid, {}), Error);
  EXPECT_THROW(NestedAffineGrid(w, 4, 0, {4, 2}, {1.0}, SliceMode::kClamped), Error);
}

// AWQ's clipping search: never worse than MinMax in the Hessian-weighted output error (no shrink is
// on its grid), and it shrinks a range stretched by one outlier.
TEST(ClippingSearch, ShrinksAnOutlierStretchedRangeAndNeverLoses) {
  auto p = make_problem(16, 64, 512, 6);
  p.weight[3][10] = 12.0;  // one outlier stretches row 3's range
  for (int64_t group : {0, 16}) {
    const AffineParams clipped = search_clipping(p.weight, p.hessian, 3, group, {3}, {1.0}, SliceMode::kClamped);
    const NestedCodes minmax = NestedCodes::quantize(p.weight, 3, group);
    const NestedCodes searched = NestedCodes::quantize(p.weight, 3, group, clipped);
    // The criterion llm-awq scores: each group's output error over its own input columns (the
    // Hessian's diagonal blocks), summed per row.
    const int64_t g = group > 0 ? group : p.weight.size(1);
    const at::Tensor block_diagonal = p.hessian * at::kron(at::eye(p.weight.size(1) / g), at::ones({g, g}));
    auto row_errors = [&](const NestedCodes& codes) {
      const at::Tensor d = codes.dequantize(3) - p.weight;
      return (at::matmul(d, block_diagonal) * d).sum(1);
    };
    EXPECT_TRUE((row_errors(searched) <= row_errors(minmax) * (1 + 1e-5) + 1e-9).all().item<bool>()) << group;
    EXPECT_LT(row_errors(searched)[3].item<double>(), row_errors(minmax)[3].item<double>()) << group;
  }
}
