// Pretraining from scratch (lib/train/pretraining): the reference presets' sizes, and a tiny run on
// a synthetic corpus whose loss falls and whose saved directory loads back.
#include "common/error.h"
#include "data/synthetic_corpus.h"
#include "data/tokenizer_training.h"
#include "model/pretrained.h"
#include "model/tokenizer.h"
#include "test_device.h"
#include "train/pretraining.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

using namespace matquant;
using matquant::testing::test_device;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = boost::filesystem::temp_directory_path() / ("matquant_pretrain_" + name);
  boost::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace

TEST(Pretraining, SmallPresetsHaveTheHandCountedParametersAndFitSixteenMiBInBf16) {
  const int64_t vocab = 4096;
  // Per layer: q 256x256, k and v 128x256 (2 KV heads of 64), o 256x256, MLP 3 x 256x768.
  const int64_t projections = 256 * 256 * 2 + 128 * 256 * 2 + 3 * 256 * 768;
  auto llama = train::new_random_model(train::pretraining_config("llama", "small", vocab), "llama", at::kCPU);
  // Untied embeddings and head; two norms per layer and a final norm.
  EXPECT_EQ(train::parameter_count(llama), 2 * vocab * 256 + 6 * (projections + 2 * 256) + 256);
  auto gemma = train::new_random_model(train::pretraining_config("gemma2", "small", vocab), "gemma2", at::kCPU);
  // Tied embeddings; four norms per layer (Gemma-2's pre and post norms) and a final norm.
  EXPECT_EQ(train::parameter_count(gemma), vocab * 256 + 6 * (projections + 4 * 256) + 256);
  EXPECT_LT(train::parameter_count(llama) * 2, 16 * 1024 * 1024);
}

TEST(Pretraining, UnknownFamilyOrSizeIsAUsageError) {
  for (const auto& [family, size] : std::vector<std::pair<std::string, std::string>>{{"gpt2", "tiny"}, {"llama", "huge"}}) {
    try {
      train::pretraining_config(family, size, 512);
      FAIL() << family << " " << size;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUsage);
    }
  }
}

TEST(Pretraining, TinyRunLowersTheLossAndItsDirectoryLoadsBack) {
  const std::string corpus = temp_dir("corpus");
  const auto documents = data::synthetic_documents(600, 1);
  data::TokenizerTrainingOptions t;
  t.vocab_size = 400;
  t.threads = 1;
  const auto tokenizer = model::Tokenizer::load(data::train_tokenizer(documents, corpus, t));
  std::vector<std::vector<int64_t>> tokens;
  for (const auto& d : documents) tokens.push_back(tokenizer.encode(d, false));
  const at::Tensor sequences = train::pack_documents(tokens, 64, tokenizer.bos_id(), tokenizer.eos_id());
  ASSERT_EQ(sequences.size(1), 65);
  EXPECT_EQ(sequences[0][0].item<int64_t>(), tokenizer.bos_id());

  for (const std::string family : {"llama", "gemma2"}) {
    SCOPED_TRACE(family);
    auto net = train::new_random_model(train::pretraining_config(family, "tiny", tokenizer.vocab_size()), family,
                                       test_device(), 3);
    train::PretrainingOptions o;
    o.steps = 40;
    o.batch_size = 8;
    o.seq_len = 64;
    o.learning_rate = 3e-3;
    o.log_every = 0;
    const auto summary = train::pretrain(net, sequences, o);
    ASSERT_EQ(summary.curve.size(), 40u);
    // The first loss is near ln(vocab) (uniform guesses); training must get well below it.
    const double first = summary.curve.front().loss_by_bits.at(0);
    EXPECT_NEAR(first, std::log(double(tokenizer.vocab_size())), 0.5);
    double last = 0.0;
    for (size_t i = 35; i < 40; ++i) last += summary.curve[i].loss_by_bits.at(0) / 5.0;
    EXPECT_LT(last, first - 1.0);

    const std::string dir = temp_dir("model_" + family);
    net->to(at::kBFloat16);
    model::save_pretrained(net, dir);
    auto loaded = model::load_pretrained(dir, {at::kFloat, test_device()});
    EXPECT_EQ(loaded->config().raw.value("model_type", ""), family);
    auto saved_weights = net->named_weights();
    auto loaded_weights = loaded->named_weights();
    ASSERT_EQ(saved_weights.size(), loaded_weights.size());
    for (size_t i = 0; i < saved_weights.size(); ++i) {
      EXPECT_EQ(saved_weights[i].first, loaded_weights[i].first);
      EXPECT_TRUE(at::equal(saved_weights[i].second.to(at::kFloat), loaded_weights[i].second))
          << saved_weights[i].first;
    }
  }
}
