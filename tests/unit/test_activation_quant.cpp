// Activation quantization (lib/quant/activation_quant.h): static per-channel INT against
// torch.ao.quantization's PerChannelMinMaxObserver and fake_quantize_per_channel_affine
// (tests/reference/make_activation_fixtures.py wrote the fixture), and the dynamic MXINT path
// against mx_fake_quantize, which tests/unit/test_mx_format.cpp checks against hand-derived tables.
#include "common/error.h"
#include "kernels/fused_ops.h"
#include "quant/activation_quant.h"
#include "quant/mx_format.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace matquant;
using namespace matquant::quant;

namespace {

at::Tensor floats(const nlohmann::json& values, std::vector<int64_t> shape) {
  std::vector<float> data;
  for (const auto& v : values) data.push_back(float(v.get<double>()));
  return at::tensor(data, at::kFloat).reshape(shape);
}

nlohmann::json load_fixture() {
  std::ifstream in(std::string(MATQUANT_SOURCE_DIR) + "/tests/fixtures/activation_quant/reference.json");
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(ActivationQuant, StaticIntMatchesTorchAoObserverAndFakeQuantize) {
  const auto fixture = load_fixture();
  const int64_t channels = fixture["channels"].get<int64_t>();
  const at::Tensor test = floats(fixture["test"], fixture["test_shape"].get<std::vector<int64_t>>());
  ASSERT_EQ(fixture["cases"].size(), 2u);
  for (const auto& c : fixture["cases"]) {
    const int bits = c["bits"].get<int>();
    ActivationRangeObserver observer;
    for (const auto& batch : fixture["calibration"]) {
      observer.add(floats(batch["values"], batch["shape"].get<std::vector<int64_t>>()));
    }
    EXPECT_TRUE(at::equal(observer.min(), floats(c["min"], {channels}))) << bits;
    EXPECT_TRUE(at::equal(observer.max(), floats(c["max"], {channels}))) << bits;
    const WeightFormat format = parse_weight_format("int" + std::to_string(bits));
    const auto q = ActivationQuantizer::from_range(format, observer.min(), observer.max());
    EXPECT_TRUE(at::equal(q.scale, floats(c["scale"], {channels}))) << bits << "\n" << q.scale;
    std::vector<float> zeros;
    for (const auto& z : c["zero_point"]) zeros.push_back(float(z.get<int>()));
    EXPECT_TRUE(at::equal(q.zero_point, at::tensor(zeros, at::kFloat))) << bits << "\n" << q.zero_point;
    const at::Tensor out = q.apply(test);
    EXPECT_EQ(out.sizes(), test.sizes());
    const at::Tensor expected = floats(c["output"], test.sizes().vec());
    EXPECT_TRUE(at::equal(out, expected)) << bits << ": max difference " << (out - expected).abs().max().item<float>();
  }
}

TEST(ActivationQuant, StaticIntKeepsDtypeAndRefusesMissingRanges) {
  ActivationRangeObserver observer;
  EXPECT_TRUE(observer.empty());
  EXPECT_THROW(ActivationQuantizer::from_range(parse_weight_format("int8"), observer.min(), observer.max()), Error);
  observer.add(at::randn({7, 16}));
  const auto q = ActivationQuantizer::from_range(parse_weight_format("int8"), observer.min(), observer.max());
  const at::Tensor x = at::randn({3, 16}).to(at::kBFloat16);
  const at::Tensor out = q.apply(x);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(out, q.apply(x.to(at::kFloat)).to(at::kBFloat16)));
  EXPECT_THROW(ActivationQuantizer::dynamic(parse_weight_format("int8")), Error);
}

TEST(ActivationQuant, DynamicMxEqualsMxFakeQuantizeIncludingTiesAndTinyBlocks) {
  at::manual_seed(3);
  for (const int bits : {8, 4, 3, 2}) {
    for (const int64_t block : {128, 16, 5}) {
      at::Tensor x = at::randn({6, 300}) * at::exp2(at::randint(-20, 20, {6, 1}).to(at::kFloat));
      // Exact midpoints between element codes (ties round away from zero), all-zero blocks, and
      // blocks of subnormal-scale values whose 2^(d-2-e) overflows float32.
      x[0].slice(0, 0, 32) = (at::arange(32).to(at::kFloat) - 16.0 + 0.5) * std::ldexp(1.0, -(bits - 2));
      x[0][32] = 1.9f;
      x[1].slice(0, 0, 128).zero_();
      x[2].slice(0, 0, 64) = at::randn({64}) * 1e-38;
      const at::Tensor ours = mx_fake_quantize_unchecked(x, {bits, block});
      const at::Tensor reference = mx_fake_quantize(x, {bits, block});
      EXPECT_TRUE(at::equal(ours, reference)) << "mxint" << bits << "-" << block << ": max difference "
                                              << (ours - reference).abs().max().item<float>();
    }
  }
  const auto q = ActivationQuantizer::dynamic(parse_weight_format("mxint8-16"));
  const at::Tensor x = at::randn({2, 3, 40}).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(q.apply(x), mx_fake_quantize(x, {8, 16})));
}

// The CUDA kernels (lib/kernels/activation_quant.cu) against the ATen compositions, value for
// value: ties, all-zero and subnormal-scale blocks, short last blocks, NaN, both dtypes.
TEST(ActivationQuant, KernelsEqualTheAtenPath) {
  if (!at::hasCUDA() || !kernels::fused_kernels_compiled()) GTEST_SKIP() << "no CUDA device or kernels";
  at::manual_seed(5);
  auto compare = [](const ActivationQuantizer& q, const at::Tensor& x, const std::string& what) {
    const bool previous = kernels::set_fused_kernels(true);
    const at::Tensor fused = q.apply(x);
    kernels::set_fused_kernels(false);
    const at::Tensor reference = q.apply(x);
    kernels::set_fused_kernels(previous);
    EXPECT_TRUE(at::allclose(fused, reference, 0.0, 0.0, /*equal_nan=*/true))
        << what << ": max difference " << (fused - reference).abs().nan_to_num(0).max().item<float>();
  };
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor x = at::randn({3, 7, 300}) * at::exp2(at::randint(-20, 20, {3, 7, 1}).to(at::kFloat));
    x[0][0].slice(0, 0, 32) = (at::arange(32).to(at::kFloat) - 16.0 + 0.5) * 0.25;
    x[0][1].slice(0, 0, 128).zero_();
    x[0][2].slice(0, 0, 64) = at::randn({64}) * 1e-38;
    x[1][3][17] = NAN;
    x = x.to(dtype).cuda();
    for (const char* format : {"mxint8-128", "mxint4-128", "mxint2-32", "mxint8-16", "mxint3-5"}) {
      compare(ActivationQuantizer::dynamic(parse_weight_format(format)), x, format);
    }
    ActivationRangeObserver observer;
    observer.add(at::randn({64, 300}).cuda() * 3.0);
    for (const char* format : {"int8", "int4"}) {
      const auto q = ActivationQuantizer::from_range(parse_weight_format(format), observer.min(), observer.max());
      compare(q, x, format);
      compare(q, (at::randn({5, 300}) * 4.0).to(dtype).cuda(), std::string(format) + " beyond the range");
    }
  }
}
