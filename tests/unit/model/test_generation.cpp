// Cached decoding (model/generation.h): for every family fixture, a prompt run in one step and then
// token by token gives at each position the logits of the full forward pass over the whole sequence
// (ours, and transformers' reference logits of the fixture), with Gemma-2's and Mistral's
// 4-token sliding windows exceeded; the bit-plane and slice-pack serving paths give the frozen
// layers' logits; static steps, and their CUDA-graph replays, give the cached steps' logits.
#include "common/error.h"
#include "kernels/captured_work.h"
#include "kernels/slice_pack_ops.h"
#include "model/captured_decoder.h"
#include "model/generation.h"
#include "model/pretrained.h"
#include "model/safetensors.h"
#include "quant/mix_n_match.h"

#include <gtest/gtest.h>

using namespace matquant;
using namespace matquant::model;

namespace {

std::string fixture(const std::string& family) { return std::string(MATQUANT_FIXTURES_DIR) + "/models/" + family; }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Logits [T, vocab] of `ids` [1, T] from a 3-token prefill and then one token per step.
at::Tensor cached_logits(Generator& generator, const at::Tensor& ids) {
  KvCache cache;
  std::vector<at::Tensor> rows;
  const int64_t prefill = 3;
  // The prefill step returns only its last position; earlier positions come from shorter prefills.
  for (int64_t p = 1; p < prefill; ++p) {
    KvCache scratch;
    rows.push_back(generator.step(ids.slice(1, 0, p), scratch).squeeze(0));
  }
  rows.push_back(generator.step(ids.slice(1, 0, prefill), cache).squeeze(0));
  for (int64_t p = prefill; p < ids.size(1); ++p) rows.push_back(generator.step(ids.slice(1, p, p + 1), cache).squeeze(0));
  EXPECT_EQ(cache.length, ids.size(1));
  return at::stack(rows);
}

class CachedDecoding : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CachedDecoding, EveryPositionMatchesTheFullForward) {
  c10::NoGradGuard no_grad;
  DecoderModel model = load_pretrained(fixture(GetParam()));
  model->eval();
  const auto reader = SafetensorsReader::open(fixture(GetParam()) + "/reference.safetensors");
  const at::Tensor ids = reader.load("input_ids"), mask = reader.load("attention_mask"), reference = reader.load("logits");
  // A row without padding (the cache holds no padding mask).
  int64_t row = -1;
  for (int64_t i = 0; i < ids.size(0) && row < 0; ++i) {
    if (mask[i].min().item<int64_t>() == 1) row = i;
  }
  ASSERT_GE(row, 0) << "the fixture has no unpadded row";
  const at::Tensor one = ids.slice(0, row, row + 1);
  ASSERT_GT(one.size(1), 6) << "the sequence must exceed the 4-token sliding windows";
  Generator generator(model);
  const at::Tensor cached = cached_logits(generator, one);
  const at::Tensor full = model->forward(one).squeeze(0).to(at::kFloat);
  EXPECT_LT(max_abs_diff(cached, full), 1e-4) << GetParam();
  EXPECT_LT(max_abs_diff(cached, reference[row].to(at::kFloat)), 1e-4) << GetParam() << " against transformers";
}

TEST_P(CachedDecoding, BitPlaneServingGivesTheFrozenLayersLogits) {
  c10::NoGradGuard no_grad;
  DecoderModel model = load_pretrained(fixture(GetParam()));
  model->eval();
  model->enable_quantization(QuantScope::kFfnAndAttention, QuantizerConfig{});
  for (auto& [name, layer, linear] : model->quantized_linears()) linear->freeze_codes();
  const at::Tensor ids = at::arange(1, 12, at::kLong).view({1, -1});
  for (int r : {8, 4, 2}) {
    model->set_precision(quant::plan_from_text(std::to_string(r), int(model->layers.size())));
    Generator dequantized(model);
    const at::Tensor expected = cached_logits(dequantized, ids);
    Generator planes(model);
    planes.pack_bit_planes();
    ASSERT_TRUE(planes.serves_bit_planes());
    EXPECT_GT(planes.bit_plane_bytes(), 0);
    EXPECT_LT(max_abs_diff(cached_logits(planes, ids), expected), 1e-5) << GetParam() << " int" << r;
  }
}

// One generator holds slice packs for int8, int4, int2 and a per-layer plan, and serves each of
// them in turn (no reload) with the logits of the dequantized frozen layers, also after the dense
// weights and codes are released.
TEST_P(CachedDecoding, SlicePackServingSwitchesPrecisionsWithoutReloading) {
  c10::NoGradGuard no_grad;
  DecoderModel model = load_pretrained(fixture(GetParam()));
  model->eval();
  model->enable_quantization(QuantScope::kFfnAndAttention, QuantizerConfig{});
  for (auto& [name, layer, linear] : model->quantized_linears()) linear->freeze_codes();
  const int layers = int(model->layers.size());
  std::string plan;
  for (int l = 0; l < layers; ++l) plan += (l == 0 ? "" : ",") + std::string(l % 2 == 0 ? "4" : "2");
  const std::vector<std::string> precisions = {"8", "4", "2", plan};
  const at::Tensor ids = at::arange(1, 12, at::kLong).view({1, -1});
  std::vector<at::Tensor> expected;
  Generator packed(model);
  for (const std::string& p : precisions) {
    model->set_precision(quant::plan_from_text(p, layers));
    Generator dequantized(model);
    expected.push_back(cached_logits(dequantized, ids));
    EXPECT_EQ(dequantized.slice_pack_calls(), 0);
    packed.pack_slices();
  }
  ASSERT_TRUE(packed.serves_slice_packs());
  EXPECT_GT(packed.slice_pack_bytes(), 0);
  // Per layer and packed precision (8, 4, 2; the plan's are theirs), q k v and gate up each joint.
  EXPECT_EQ(packed.joint_packs(), 2 * layers * 3) << GetParam();
  const int64_t projections = int64_t(model->quantized_linears().size());
  {
    // Members of a group at different precisions share no joint pack: each runs its own pack, a
    // view of a joint one made for another group of precisions.
    model->set_precision(quant::plan_from_text("8", layers));
    model->layers[0]->q_proj->set_precision(4);
    model->layers[0]->up_proj->set_precision(2);
    Generator dequantized(model);
    const at::Tensor mixed = cached_logits(dequantized, ids);
    const int64_t calls = packed.slice_pack_calls();
    EXPECT_LT(max_abs_diff(cached_logits(packed, ids), mixed), 1e-5) << GetParam() << " mixed";
    EXPECT_EQ(packed.slice_pack_calls() - calls, projections * (3 + 8)) << GetParam() << " mixed";
  }
  for (bool released : {false, true}) {
    if (released) EXPECT_GT(packed.release_packed_projections(), 0);
    for (size_t i = 0; i < precisions.size(); ++i) {
      model->set_precision(quant::plan_from_text(precisions[i], layers));
      const int64_t calls = packed.slice_pack_calls();
      EXPECT_LT(max_abs_diff(cached_logits(packed, ids), expected[i]), 1e-5) << GetParam() << " " << precisions[i];
      // Every projection of every step came from a pack (11 tokens: 3 prefills of 1..3, then 8 steps).
      EXPECT_EQ(packed.slice_pack_calls() - calls, projections * (3 + 8)) << GetParam() << " " << precisions[i];
    }
  }
  for (auto& [name, layer, linear] : model->quantized_linears()) EXPECT_EQ(linear->weight.numel(), 0) << name;
  // Full precision has no pack, and its weights are gone: one internal error, not a crash.
  model->set_precision(std::nullopt);
  KvCache cache;
  try {
    packed.step(ids.slice(1, 0, 2), cache);
    FAIL() << "a released model served full precision";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInternal);
  }
}

// Static steps (what a CUDA graph replays) give the cached steps' logits: a 3-token prompt, then
// one token per step over a cache with room to spare, its unfilled slots masked; and at batch 2.
TEST_P(CachedDecoding, StaticStepsMatchTheCachedSteps) {
  c10::NoGradGuard no_grad;
  DecoderModel model = load_pretrained(fixture(GetParam()));
  model->eval();
  const at::Tensor ids = at::arange(1, 12, at::kLong).view({1, -1});
  Generator generator(model);
  const at::Tensor expected = cached_logits(generator, ids);
  KvCache prompt;
  generator.step(ids.slice(1, 0, 3), prompt);
  StaticKvCache cache = generator.static_cache(prompt, ids.size(1) + 5);
  for (int64_t p = 3; p < ids.size(1); ++p) {
    const at::Tensor logits = generator.step_static(ids.slice(1, p, p + 1), cache);
    EXPECT_LT(max_abs_diff(logits.squeeze(0), expected[p]), 1e-5) << GetParam() << " position " << p;
  }
  EXPECT_EQ(cache.position.item<int64_t>(), ids.size(1));
  // Two sequences at once: each row's static steps give that row's cached steps.
  const at::Tensor rows = at::cat({ids, ids.flip(1)});
  KvCache eager, prompt2;
  generator.step(rows.slice(1, 0, 3), eager);
  generator.step(rows.slice(1, 0, 3), prompt2);
  StaticKvCache cache2 = generator.static_cache(prompt2, rows.size(1));
  for (int64_t p = 3; p < rows.size(1); ++p) {
    const at::Tensor expected2 = generator.step(rows.slice(1, p, p + 1), eager);
    EXPECT_LT(max_abs_diff(generator.step_static(rows.slice(1, p, p + 1), cache2), expected2), 1e-5)
        << GetParam() << " batch 2, position " << p;
  }
  try {
    generator.static_cache(KvCache{}, 8);
    FAIL() << "a static cache without a prompt";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidInput);
  }
}

TEST_P(CachedDecoding, BatchedPromptsOfDifferentLengthsDecodeAsTheyWouldAlone) {
  // Three prompts of 9, 4 and 1 tokens in one left-padded batch, then four greedy tokens each, by
  // cached steps and by static steps: every row's logits are those of its prompt run alone, with the
  // sliding windows (4 tokens in the Mistral and Gemma-2 fixtures) exceeded.
  c10::NoGradGuard no_grad;
  DecoderModel model = load_pretrained(fixture(GetParam()));
  model->eval();
  Generator generator(model);
  const std::vector<std::vector<int64_t>> prompts = {{5, 17, 3, 40, 8, 21, 9, 33, 2}, {7, 12, 30, 6}, {11}};
  const int64_t steps = 4;
  // Alone: the logits after each prompt and after each of its greedy tokens.
  std::vector<std::vector<at::Tensor>> alone(prompts.size());
  std::vector<std::vector<int64_t>> greedy(prompts.size());
  for (size_t row = 0; row < prompts.size(); ++row) {
    KvCache cache;
    at::Tensor logits = generator.step(at::tensor(prompts[row], at::kLong).view({1, -1}), cache);
    for (int64_t s = 0; s <= steps; ++s) {
      alone[row].push_back(logits.squeeze(0));
      greedy[row].push_back(logits.argmax(-1).item<int64_t>());
      if (s < steps) logits = generator.step(at::tensor(greedy[row].back(), at::kLong).view({1, 1}), cache);
    }
  }
  const auto next_tokens = [&](int64_t s) {
    std::vector<int64_t> ids;
    for (size_t row = 0; row < prompts.size(); ++row) ids.push_back(greedy[row][size_t(s)]);
    return at::tensor(ids, at::kLong).view({-1, 1});
  };
  const auto expect_rows = [&](const at::Tensor& logits, int64_t s, const std::string& how) {
    ASSERT_EQ(logits.size(0), int64_t(prompts.size()));
    for (size_t row = 0; row < prompts.size(); ++row) {
      EXPECT_LT(max_abs_diff(logits[int64_t(row)], alone[row][size_t(s)]), 1e-4)
          << GetParam() << " " << how << ", prompt " << row << ", step " << s;
    }
  };
  KvCache batch;
  at::Tensor logits = generator.prefill(prompts, batch);
  EXPECT_EQ(batch.length, 9);
  ASSERT_TRUE(batch.pads.defined());
  expect_rows(logits, 0, "cached");
  KvCache prompt_only;
  generator.prefill(prompts, prompt_only);
  StaticKvCache fixed = generator.static_cache(prompt_only, 9 + steps);
  for (int64_t s = 1; s <= steps; ++s) {
    expect_rows(generator.step(next_tokens(s - 1), batch), s, "cached");
    expect_rows(generator.step_static(next_tokens(s - 1), fixed), s, "static");
  }
  // Prompts of one length need no padding.
  KvCache even;
  const at::Tensor same = generator.prefill({prompts[1], prompts[1]}, even);
  EXPECT_FALSE(even.pads.defined());
  for (int64_t row = 0; row < 2; ++row) EXPECT_LT(max_abs_diff(same[row], alone[1][0]), 1e-4) << GetParam();
  try {
    KvCache empty_prompt;
    generator.prefill({{1, 2}, {}}, empty_prompt);
    FAIL() << "an empty prompt";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidInput);
  }
}

// CUDA graphs (CUDA only): the captured step's replays give the eager cached steps' logits, in fp32
// at full precision and in bf16 served from int4 slice packs (the slice-pack kernel in the graph).
TEST_P(CachedDecoding, CapturedDecodingReplaysTheCachedSteps) {
  if (!at::hasCUDA() || !kernels::captured_work_available()) GTEST_SKIP() << "needs a GPU and the CUDA kernels";
  c10::NoGradGuard no_grad;
  // fp32; int4 slice packs launched alone; the same launched chained, as `matquant generate` runs them
  // (on sm_90 the graph then holds programmatic dependencies).
  for (int mode : {0, 1, 2}) {
    const bool packed = mode > 0;
    const bool chained_before = kernels::slice_pack_chained_launch();
    kernels::set_slice_pack_chained_launch(mode == 2);
    struct Restore {
      bool chained;
      ~Restore() { kernels::set_slice_pack_chained_launch(chained); }
    } restore{chained_before};
    LoadOptions options;
    options.device = at::Device(at::kCUDA);
    options.dtype = packed ? at::kBFloat16 : at::kFloat;
    DecoderModel model = load_pretrained(fixture(GetParam()), options);
    model->eval();
    Generator generator(model);
    if (packed) {
      model->enable_quantization(QuantScope::kFfnAndAttention, QuantizerConfig{});
      for (auto& [name, layer, linear] : model->quantized_linears()) linear->freeze_codes();
      model->set_precision(quant::plan_from_text("4", int(model->layers.size())));
      generator.pack_slices();
    }
    const at::Tensor ids = at::arange(1, 12, at::TensorOptions().dtype(at::kLong).device(at::kCUDA)).view({1, -1});
    KvCache eager, prompt;
    generator.step(ids.slice(1, 0, 3), eager);
    generator.step(ids.slice(1, 0, 3), prompt);
    CapturedDecoder decoder(generator, prompt, ids.size(1));
    for (int64_t p = 3; p < ids.size(1); ++p) {
      const at::Tensor expected = generator.step(ids.slice(1, p, p + 1), eager);
      const at::Tensor captured = decoder.step(ids.slice(1, p, p + 1)).clone();
      const double tolerance = packed ? 0.02 * expected.abs().max().item<double>() : 1e-4;
      EXPECT_LT(max_abs_diff(captured, expected), tolerance)
          << GetParam() << (packed ? " int4 packs" : " fp32") << (mode == 2 ? " chained" : "") << " position " << p;
      if (!packed) EXPECT_TRUE(at::equal(captured.argmax(-1), expected.argmax(-1))) << GetParam() << " position " << p;
    }
    EXPECT_EQ(decoder.length(), ids.size(1));
    try {
      decoder.step(ids.slice(1, 0, 1));
      FAIL() << "a step past the captured capacity";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInternal);
    }
  }
}

TEST(CachedDecoding, SamplingIsGreedyAtZeroTemperatureAndSeededOtherwise) {
  DecoderModel model = load_pretrained(fixture("llama"));
  Generator generator(model);
  const at::Tensor logits = at::tensor({0.1f, 3.0f, -1.0f, 2.9f}).view({1, 4});
  at::Generator a = at::make_generator<at::CPUGeneratorImpl>(7), b = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_EQ(generator.sample(logits, {0.0, 0, 7}, a).item<int64_t>(), 1);
  std::vector<int64_t> first, second;
  for (int i = 0; i < 20; ++i) {
    first.push_back(generator.sample(logits, {1.0, 2, 7}, a).item<int64_t>());
    second.push_back(generator.sample(logits, {1.0, 2, 7}, b).item<int64_t>());
  }
  EXPECT_EQ(first, second);
  for (int64_t token : first) EXPECT_TRUE(token == 1 || token == 3) << "top-k 2 drew " << token;
}

INSTANTIATE_TEST_SUITE_P(Families, CachedDecoding, ::testing::Values("llama", "mistral", "qwen2", "gemma2"));
