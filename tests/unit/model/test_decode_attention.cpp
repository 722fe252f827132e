// kernels::decode_attention (lib/kernels/decode_attention.cu) against the maths it replaces, done in
// fp32 with ATen: the new key and value written at the position, then softcapped, masked softmax
// attention of the one query per row over keys 0 .. position. CUDA only.
#include "cuda_kernel_test.h"
#include "kernels/fused_ops.h"
#include "model/config.h"
#include "model/captured_decoder.h"
#include "model/generation.h"
#include "model/initialization.h"
#include "model/rope.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

using namespace matquant;

namespace {

class DecodeAttention : public matquant::testing::CudaKernelTest<5> {};

struct Case {
  int64_t batch, heads, kv_heads, capacity, head_dim, position;
  double cap;
  std::string mask;  // "none", "causal", "sliding", "padded" (per row), "empty row"
};

std::string describe(const Case& c) {
  return "batch " + std::to_string(c.batch) + ", heads " + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) +
         ", capacity " + std::to_string(c.capacity) + ", D " + std::to_string(c.head_dim) + ", position " +
         std::to_string(c.position) + ", cap " + std::to_string(c.cap) + ", mask " + c.mask;
}

at::Tensor mask_for(const Case& c) {
  const auto options = at::TensorOptions().device(at::kCUDA).dtype(at::kLong);
  const at::Tensor keys = at::arange(c.capacity, options).view({1, 1, 1, c.capacity});
  if (c.mask == "none") return at::Tensor();
  at::Tensor mask = keys.le(c.position);
  if (c.mask == "sliding") mask = mask.logical_and((c.position - keys).lt(5));
  if (c.mask == "padded" || c.mask == "empty row") {
    // Row r's first r keys are padding; in "empty row", row 0 sees nothing at all.
    const at::Tensor rows = at::arange(c.batch, options).view({c.batch, 1, 1, 1});
    mask = mask.logical_and(keys.ge(rows));
    if (c.mask == "empty row") mask = mask.logical_and(rows.ne(0));
  }
  return mask;
}

}  // namespace

TEST_F(DecodeAttention, MatchesTheFp32MathsAndWritesTheCache) {
  const std::vector<Case> cases = {
      {1, 8, 4, 54, 256, 0, 50.0, "causal"},    // the first step: only the new key
      {1, 8, 4, 54, 256, 17, 50.0, "causal"},   // Gemma-2 2B heads
      {1, 16, 8, 54, 256, 53, 50.0, "sliding"}, // Gemma-2 9B heads, the last slot, a window
      {3, 8, 4, 40, 256, 22, 50.0, "padded"},
      {2, 32, 8, 300, 128, 299, 0.0, "causal"}, // Mistral-like heads, no cap
      {2, 16, 4, 64, 256, 0, 50.0, "padded"},   // 4 heads per group at D 256; row 1 sees no key yet
      {2, 4, 4, 512, 64, 400, 0.0, "empty row"},
      {1, 4, 2, 33, 64, 9, 30.0, "none"},       // no mask: keys past the position still excluded
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(describe(c));
    const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    // Projection outputs as the generator has them: [B, 1, H, D] buffers seen as [B, H, 1, D].
    const at::Tensor q = at::randn({c.batch, 1, c.heads, c.head_dim}, bf16).transpose(1, 2);
    const at::Tensor k_new = at::randn({c.batch, 1, c.kv_heads, c.head_dim}, bf16).transpose(1, 2);
    const at::Tensor v_new = at::randn({c.batch, 1, c.kv_heads, c.head_dim}, bf16).transpose(1, 2);
    at::Tensor keys = at::randn({c.batch, c.kv_heads, c.capacity, c.head_dim}, bf16);
    at::Tensor values = at::randn({c.batch, c.kv_heads, c.capacity, c.head_dim}, bf16);
    const at::Tensor position = at::full({1}, c.position, at::TensorOptions().device(at::kCUDA).dtype(at::kLong));
    const at::Tensor mask = mask_for(c);
    const double scale = 1.0 / std::sqrt(double(c.head_dim));

    // Reference: the caches written with index_copy_, then fp32 attention over keys <= position.
    at::Tensor expected_keys = keys.clone(), expected_values = values.clone();
    expected_keys.index_copy_(2, position, k_new);
    expected_values.index_copy_(2, position, v_new);
    const int64_t repeat = c.heads / c.kv_heads;
    const at::Tensor k32 = expected_keys.to(at::kFloat).repeat_interleave(repeat, 1);
    const at::Tensor v32 = expected_values.to(at::kFloat).repeat_interleave(repeat, 1);
    at::Tensor scores = at::matmul(q.to(at::kFloat), k32.transpose(-1, -2)) * scale;
    if (c.cap > 0) scores = at::tanh(scores / c.cap) * c.cap;
    at::Tensor allowed = at::arange(c.capacity, position.options()).le(c.position).view({1, 1, 1, c.capacity});
    if (mask.defined()) allowed = allowed.logical_and(mask);
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
    at::Tensor expected = at::matmul(at::softmax(scores, -1), v32);
    expected = at::nan_to_num(expected, 0.0);  // a row with no allowed key: 0

    ASSERT_TRUE(kernels::decode_attention_applies(q, k_new, v_new, keys, values, mask));
    const at::Tensor out = kernels::decode_attention(q, k_new, v_new, keys, values, position, mask, scale, c.cap);
    ASSERT_EQ(out.sizes(), q.sizes());
    EXPECT_TRUE(at::equal(keys, expected_keys)) << "the new key is not where it belongs";
    EXPECT_TRUE(at::equal(values, expected_values)) << "the new value is not where it belongs";
    // fp32 maths and one bf16 rounding of the output (relative 2^-9, so 2^-8 of the largest value).
    const double error = (out.to(at::kFloat) - expected).abs().max().item<double>();
    EXPECT_LE(error, expected.abs().max().item<double>() / 256.0 + 1e-5);
    if (c.mask == "empty row") EXPECT_EQ(out.select(0, 0).abs().max().item<double>(), 0.0);
  }
}

TEST_F(DecodeAttention, RefusesWhatItDoesNotTake) {
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor q = at::randn({1, 8, 1, 256}, bf16), kv = at::randn({1, 4, 1, 256}, bf16);
  const at::Tensor cache = at::zeros({1, 4, 64, 256}, bf16), values = at::zeros({1, 4, 64, 256}, bf16);
  EXPECT_TRUE(kernels::decode_attention_applies(q, kv, kv, cache, values, at::Tensor()));
  // One memory for both caches (the blocks' writes would race with other blocks' reads), an expanded
  // cache, a mask that is not bool.
  EXPECT_FALSE(kernels::decode_attention_applies(q, kv, kv, cache, cache, at::Tensor()));
  EXPECT_FALSE(kernels::decode_attention_applies(q, kv, kv, cache.slice(1, 0, 1).expand({1, 4, 64, 256}), values,
                                                 at::Tensor()));
  EXPECT_FALSE(kernels::decode_attention_applies(q, kv, kv, cache, values, at::ones({1, 1, 1, 64}, bf16)));
  // Longer than the kernel's one-block walk, two queries, fp32, a gradient, 8 heads per group.
  const at::Tensor long_cache = at::zeros({1, 4, kernels::kDecodeAttentionMaxCapacity + 1, 256}, bf16);
  EXPECT_FALSE(kernels::decode_attention_applies(q, kv, kv, long_cache, long_cache.clone(), at::Tensor()));
  EXPECT_FALSE(kernels::decode_attention_applies(at::randn({1, 8, 2, 256}, bf16), kv, kv, cache, values, at::Tensor()));
  EXPECT_FALSE(kernels::decode_attention_applies(q.to(at::kFloat), kv, kv, cache, values, at::Tensor()));
  EXPECT_FALSE(kernels::decode_attention_applies(q.clone().requires_grad_(), kv, kv, cache, values, at::Tensor()));
  const at::Tensor one_kv = at::randn({1, 1, 1, 256}, bf16), one_cache = at::zeros({1, 1, 64, 256}, bf16);
  EXPECT_FALSE(kernels::decode_attention_applies(q, one_kv, one_kv, one_cache, one_cache.clone(), at::Tensor()));
  // The switch that turns the one-kernel attention off turns this one off too.
  const bool before = kernels::set_softcapped_attention_kernel(false);
  EXPECT_FALSE(kernels::decode_attention_applies(q, kv, kv, cache, values, at::Tensor()));
  kernels::set_softcapped_attention_kernel(before);
}

// Given the step's RoPE tables, the kernel rotates q and the new key itself: bit for bit what the
// rotary_embedding kernel and then the kernel without tables give (output and cache), with one
// table row for every batch row, a row each, and one row expanded over the batch (stride 0). q, k
// and v are views of one buffer, as a joint pack's output gives them to the generator.
TEST_F(DecodeAttention, RotatesQueriesAndKeysAsTheRopeKernelDoes) {
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const auto longs = at::TensorOptions().device(at::kCUDA).dtype(at::kLong);
  for (int64_t d : {64, 128, 256}) {
    for (const std::string tables_kind : {"one row", "a row per batch row", "one row expanded"}) {
      SCOPED_TRACE("D " + std::to_string(d) + ", " + tables_kind);
      const bool per_row = tables_kind == "a row per batch row";
      const int64_t batch = 2, heads = 8, kv_heads = 4, capacity = 40, step = 17;
      const at::Tensor all_heads = at::randn({batch, 1, heads + 2 * kv_heads, d}, bf16).transpose(1, 2);
      const at::Tensor q = all_heads.narrow(1, 0, heads), k_new = all_heads.narrow(1, heads, kv_heads);
      const at::Tensor v_new = all_heads.narrow(1, heads + kv_heads, kv_heads);
      const at::Tensor keys = at::randn({batch, kv_heads, capacity, d}, bf16);
      const at::Tensor values = at::randn({batch, kv_heads, capacity, d}, bf16);
      const at::Tensor position = at::full({1}, step, longs);
      // Positions as a padded batch has them: per row, counted from each row's first real token.
      const at::Tensor positions = per_row ? at::tensor({step, step - 3}, at::kLong).to(at::kCUDA).view({batch, 1})
                                           : position.view({1, 1});
      model::RopeConfig rope;
      rope.theta = 10000.0;
      model::RopeTables tables =
          model::rope_tables(model::rope_inverse_frequencies(rope, d, at::kCUDA), positions, at::kBFloat16);
      if (tables_kind == "one row expanded") {
        tables.cos = tables.cos.expand({batch, 1, d});
        tables.sin = tables.sin.expand({batch, 1, d});
      }
      ASSERT_TRUE(kernels::decode_attention_rotates(q, tables.cos, tables.sin));
      const at::Tensor mask = at::arange(capacity, longs).le(step).view({1, 1, 1, capacity});
      const double scale = 1.0 / std::sqrt(double(d));
      at::Tensor fused_keys = keys.clone(), fused_values = values.clone();
      const at::Tensor fused = kernels::decode_attention(q, k_new, v_new, fused_keys, fused_values, position, mask,
                                                         scale, 50.0, tables.cos, tables.sin);
      at::Tensor plain_keys = keys.clone(), plain_values = values.clone();
      const at::Tensor plain =
          kernels::decode_attention(model::apply_rope(q, tables), model::apply_rope(k_new, tables), v_new, plain_keys,
                                    plain_values, position, mask, scale, 50.0);
      EXPECT_TRUE(at::equal(fused_keys, plain_keys)) << "the rotated key differs from the rope kernel's";
      EXPECT_TRUE(at::equal(fused_values, plain_values));
      EXPECT_TRUE(at::equal(fused, plain)) << "max diff " << (fused - plain).abs().max().item<double>();
    }
  }
  const at::Tensor q = at::zeros({1, 8, 1, 64}, bf16);
  const at::Tensor table = at::zeros({1, 1, 64}, bf16);
  EXPECT_FALSE(kernels::decode_attention_rotates(q, table.to(at::kFloat), table.to(at::kFloat)));
  EXPECT_FALSE(kernels::decode_attention_rotates(q, at::zeros({1, 1, 128}, bf16), at::zeros({1, 1, 128}, bf16)));
  EXPECT_FALSE(kernels::decode_attention_rotates(q, table, at::Tensor()));
}

TEST_F(DecodeAttention, StaticStepsOfABf16ModelTakeItAndMatchTheCachedSteps) {
  // Built-in tiny models widened to a head dimension the kernel takes (the fixtures' 16 and 32 are
  // not), with a sliding window shorter than the sequence: the static steps (the kernel) against
  // the cached steps (concatenated caches, the batched-matmul route), both in bf16.
  for (const std::string name : {"tiny-gemma2", "tiny-llama"}) {
    SCOPED_TRACE(name);
    nlohmann::json raw = model::builtin_config(name);
    raw["head_dim"] = 64;
    if (name == "tiny-gemma2") {
      raw["query_pre_attn_scalar"] = 64;
      raw["sliding_window"] = 6;
    }
    model::DecoderModel net(model::parse_config(raw, name));
    model::initialize_random(net, 0.1, 3);
    net->to(at::kCUDA, at::kBFloat16);
    net->eval();
    c10::NoGradGuard no_grad;
    model::Generator generator(net);
    const at::Tensor ids = at::arange(5, 25, at::kLong).view({1, -1});
    model::KvCache cached, prompt;
    generator.step(ids.slice(1, 0, 4), cached);
    generator.step(ids.slice(1, 0, 4), prompt);
    model::StaticKvCache cache = generator.static_cache(prompt, ids.size(1) + 3);
    const at::Tensor q = at::zeros({1, raw["num_attention_heads"].get<int64_t>(), 1, 64},
                                   at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
    const at::Tensor kv = at::zeros({1, raw["num_key_value_heads"].get<int64_t>(), 1, 64}, q.options());
    ASSERT_TRUE(kernels::decode_attention_applies(q, kv, kv, cache.keys[0], cache.values[0], at::Tensor()));
    {
      // The generator's own q, k and v take it: a captured step launches the kernel once per layer.
      model::KvCache captured_prompt;
      generator.step(ids.slice(1, 0, 4), captured_prompt);
      const model::CapturedDecoder captured(generator, captured_prompt, ids.size(1) + 3);
      int launches = 0, rotations = 0;
      for (const auto& [kernel, count] : captured.kernel_census()) {
        if (kernel.rfind("decode_attention_kernel", 0) == 0) launches += count;
        if (kernel.rfind("rope_forward", 0) == 0) rotations += count;
      }
      EXPECT_EQ(launches, raw["num_hidden_layers"].get<int>());
      EXPECT_EQ(rotations, 0) << "the kernel rotates q and k itself";
    }
    for (int64_t p = 4; p < ids.size(1); ++p) {
      const at::Tensor expected = generator.step(ids.slice(1, p, p + 1), cached).to(at::kFloat);
      const at::Tensor logits = generator.step_static(ids.slice(1, p, p + 1), cache).to(at::kFloat);
      // bf16 activations: both routes round differently (the kernel keeps fp32 scores).
      EXPECT_LE((logits - expected).abs().max().item<double>(), 0.02 * expected.abs().max().item<double>())
          << "position " << p;
    }
  }
}
