#include "data/synthetic_corpus.h"

#include <array>
#include <string>
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

// Facts about made-up people, fixed for the whole corpus (train and validation alike): the model
// can only predict them by storing them in its weights, which is what quantization damages.
struct Person {
  std::string name;
  std::string city;
  const char* job;
  int number;
};

const std::array<const char*, 16> kSyllables = {"ka", "lo", "mi", "ra", "ten", "vo", "shi", "ne",
                                                "bar", "du", "el", "fin", "go", "ha", "zu", "pe"};
const std::array<const char*, 12> kJobs = {"baker",  "sailor",  "painter", "farmer", "doctor", "singer",
                                           "weaver", "builder", "teacher", "miner",  "guard",  "poet"};

std::string made_up_word(std::mt19937_64& rng, int syllables) {
  std::string word;
  for (int i = 0; i < syllables; ++i) word += pick(kSyllables, rng);
  word[0] = static_cast<char>(word[0] - 'a' + 'A');
  return word;
}

const std::vector<Person>& people() {
  static const std::vector<Person> list = [] {
    std::mt19937_64 rng(20250207);  // fixed: the facts do not depend on the corpus seed
    std::vector<std::string> cities;
    for (int i = 0; i < 24; ++i) cities.push_back(made_up_word(rng, 2));
    std::vector<Person> out;
    for (int i = 0; i < 256; ++i) {
      out.push_back({made_up_word(rng, 3), cities[rng() % cities.size()], kJobs[rng() % kJobs.size()],
                     int(rng() % 10)});
    }
    return out;
  }();
  return list;
}

std::string fact(std::mt19937_64& rng) {
  const Person& p = people()[rng() % people().size()];
  switch (rng() % 3) {
    case 0: return p.name + " lives in " + p.city + ".";
    case 1: return p.name + " works as a " + p.job + ".";
    default: return p.name + " likes the number " + kNumbers[size_t(p.number)] + ".";
  }
}

std::string sentence(std::mt19937_64& rng) {
  if (rng() % 2 == 0) return fact(rng);
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
