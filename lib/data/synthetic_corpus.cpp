#include "data/synthetic_corpus.h"

#include <array>
#include <random>

namespace matquant::data {

namespace {

template <size_t N>
const char* pick(const std::array<const char*, N>& words, std::mt19937_64& rng) {
  return words[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

const std::array<const char*, 12> kNouns = {"cat",   "dog",    "farmer", "teacher", "river", "robot",
                                            "child", "sailor", "bird",   "doctor",  "king",  "baker"};
const std::array<const char*, 10> kAdjectives = {"small", "old",   "happy", "quiet", "bright",
                                                 "brave", "tired", "green", "clever", "gentle"};
const std::array<const char*, 10> kVerbs = {"sees",  "helps",  "follows", "finds", "calls",
                                            "likes", "guards", "teaches", "feeds", "visits"};
const std::array<const char*, 8> kPlaces = {"garden", "market", "forest", "harbor",
                                            "school", "castle", "village", "bridge"};
const std::array<const char*, 10> kNumbers = {"zero", "one", "two",   "three", "four",
                                              "five", "six", "seven", "eight", "nine"};

std::string sentence(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<int> digit(0, 4);
  switch (kind(rng)) {
    case 0:
      return std::string("The ") + pick(kAdjectives, rng) + " " + pick(kNouns, rng) + " " +
             pick(kVerbs, rng) + " the " + pick(kNouns, rng) + ".";
    case 1:
      return std::string("In the ") + pick(kPlaces, rng) + ", the " + pick(kNouns, rng) + " " +
             pick(kVerbs, rng) + " a " + pick(kAdjectives, rng) + " " + pick(kNouns, rng) + ".";
    case 2: {
      const int a = digit(rng);
      const int b = digit(rng);
      return std::string(kNumbers[a]) + " plus " + kNumbers[b] + " is " + kNumbers[a + b] + ".";
    }
    default: {
      const int start = std::uniform_int_distribution<int>(0, 5)(rng);
      std::string s = "Counting:";
      for (int i = start; i < start + 4; ++i) s += std::string(" ") + kNumbers[i];
      return s + ".";
    }
  }
}

}  // namespace

std::vector<std::string> synthetic_documents(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> documents;
  documents.reserve(static_cast<size_t>(count));
  for (int64_t d = 0; d < count; ++d) {
    const int sentences = std::uniform_int_distribution<int>(3, 8)(rng);
    std::string doc;
    for (int s = 0; s < sentences; ++s) doc += (s ? " " : "") + sentence(rng);
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::data
