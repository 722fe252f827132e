// Activation quantization (lib/quant/activation_quant.h): static per-channel INT against
// torch.ao.quantization's PerChannelMinMaxObserver and fake_quantize_per_channel_affine
// (tests/reference/make_activation_fixtures.py wrote the fixture), and the dynamic MXINT path
// against mx_fake_quantize, which tests/unit/test_mx_format.cpp checks against hand-derived tables.
#include "common/error.h"
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
      const at::Tensor ours = mx_fake_quantize_unchecked(x, bits, block);
      const at::Tensor reference = mx_fake_quantize(x, {bits, block});
      EXPECT_TRUE(at::equal(ours, reference)) << "mxint" << bits << "-" << block << ": max difference "
                                              << (ours - reference).abs().max().item<float>();
    }
  }
  const auto q = ActivationQuantizer::dynamic(parse_weight_format("mxint8-16"));
  const at::Tensor x = at::randn({2, 3, 40}).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(q.apply(x), mx_fake_quantize(x, {8, 16})));
}
