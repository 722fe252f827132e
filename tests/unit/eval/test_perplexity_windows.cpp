// GPTQ's window sampling: CPython's random module reproduced (values printed by CPython 3.11) and
// GPTQ's get_c4 validation loop (expected picks from running that loop in Python on these lengths).
#include "common/error.h"
#include "eval/perplexity_windows.h"
#include "eval/python_random.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace matquant::eval {

TEST(PythonRandom, MatchesCPython) {
  PythonRandom random(0);
  // random.seed(0); [random.randint(0, 45575) for _ in range(4)], randint(0, 2**40), randint(3, 3), randint(0, 1000)
  EXPECT_EQ(random.randint(0, 45575), 25247);
  EXPECT_EQ(random.randint(0, 45575), 27562);
  EXPECT_EQ(random.randint(0, 45575), 2653);
  EXPECT_EQ(random.randint(0, 45575), 16968);
  EXPECT_EQ(random.randint(0, int64_t(1) << 40), 891145273829);
  EXPECT_EQ(random.randint(3, 3), 3);
  EXPECT_EQ(random.randint(0, 1000), 991);
  PythonRandom again(0);  // random.seed(0); random.getrandbits(32) twice
  EXPECT_EQ(again.getrandbits(32), 3626764237u);
  EXPECT_EQ(again.getrandbits(32), 1654615998u);
}

TEST(PerplexityWindows, GptqRandomWindowsPickGptqsDocumentsAndStarts) {
  const std::vector<int64_t> lengths = {5, 40, 12, 33, 8, 64, 21, 50, 9, 35};
  const auto tokens_of = [&](int64_t i) {
    std::vector<int64_t> t;
    for (int64_t k = 0; k < lengths[size_t(i)]; ++k) t.push_back(i * 1000 + k);
    return t;
  };
  const at::Tensor windows = gptq_random_windows(int64_t(lengths.size()), tokens_of, 20, 6, 0);
  // (document, start) from GPTQ's loop in Python: (6,0) (7,12) (7,11) (9,14) (3,8) (1,19)
  const std::vector<std::pair<int64_t, int64_t>> expected = {{6, 0}, {7, 12}, {7, 11}, {9, 14}, {3, 8}, {1, 19}};
  ASSERT_EQ(windows.sizes(), (std::vector<int64_t>{6, 20}));
  for (size_t s = 0; s < expected.size(); ++s) {
    EXPECT_EQ(windows[int64_t(s)][0].item<int64_t>(), expected[s].first * 1000 + expected[s].second) << s;
    EXPECT_EQ(windows[int64_t(s)][19].item<int64_t>(), expected[s].first * 1000 + expected[s].second + 19) << s;
  }
}

TEST(PerplexityWindows, NoLongDocumentIsAnErrorNotAHang) {
  const auto short_tokens = [](int64_t) { return std::vector<int64_t>{1, 2, 3}; };
  EXPECT_THROW(gptq_random_windows(4, short_tokens, 20, 2, 0), Error);
}

TEST(PerplexityWindows, ConsecutiveWindowsDropTheRemainder) {
  const at::Tensor w = consecutive_windows({1, 2, 3, 4, 5, 6, 7}, 3, 0);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w[1][0].item<int64_t>(), 4);
  EXPECT_EQ(consecutive_windows({1, 2, 3, 4, 5, 6, 7}, 3, 1).size(0), 1);
}

// GPTQ's WikiText-2 test set: rows joined by "\n\n" and tokenized once, as transformers' tokenizer
// gives them (tests/reference/make_concatenated_window_fixtures.py).
TEST(PerplexityWindows, ConcatenatedWindowsMatchGptqThroughTransformers) {
  const std::string fixtures = MATQUANT_FIXTURES_DIR;
  std::vector<std::string> rows;
  std::ifstream lines(fixtures + "/text/wikitext2_rows.jsonl");
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  std::ifstream in(fixtures + "/text/concatenated_windows.json");
  const auto expected = nlohmann::json::parse(in);
  ASSERT_EQ(int64_t(rows.size()), expected["rows"].get<int64_t>());
  for (const auto& [family, reference] : expected["models"].items()) {
    const auto tokenizer = model::Tokenizer::load_for_model(fixtures + "/lm_eval/models/" + family);
    const at::Tensor windows = concatenated_windows(rows, tokenizer, "\n\n", expected["seq_len"].get<int64_t>(), 0);
    const auto& want = reference["windows"];
    ASSERT_EQ(windows.size(0), int64_t(want.size())) << family;
    for (int64_t w = 0; w < windows.size(0); ++w) {
      const at::Tensor row = windows[w].contiguous();
      const std::vector<int64_t> got(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
      EXPECT_EQ(got, want[size_t(w)].get<std::vector<int64_t>>()) << family << " window " << w;
    }
    EXPECT_EQ(concatenated_windows(rows, tokenizer, "\n\n", 32, 5).size(0), 5);
  }
  EXPECT_THROW(concatenated_windows({}, model::Tokenizer::load_for_model(fixtures + "/lm_eval/models/llama"), " ", 8, 0), Error);
}

}  // namespace matquant::eval
