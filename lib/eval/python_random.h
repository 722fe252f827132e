#pragma once
// CPython's `random` module generator (MT19937 seeded by init_by_array, randint by rejection
// sampling over getrandbits), so windows sampled "the GPTQ way" (random.seed(0); random.randint)
// are the very windows GPTQ's and OmniQuant's datautils.py pick.
#include <array>
#include <cstdint>

namespace matquant::eval {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed = 0);
  void seed(uint64_t seed);  // random.seed(int)
  uint32_t next_uint32();    // genrand_uint32
  uint64_t getrandbits(int bits);  // 1..64
  // random.randint(a, b), a <= b.
  int64_t randint(int64_t a, int64_t b);

 private:
  std::array<uint32_t, 624> state_{};
  int index_ = 625;
};

}  // namespace matquant::eval
