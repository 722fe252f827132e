#include "eval/python_random.h"

#include "common/error.h"

#include <vector>

namespace matquant::eval {

namespace {
constexpr int kN = 624;
constexpr int kM = 397;
}  // namespace

PythonRandom::PythonRandom(uint64_t seed) { this->seed(seed); }

void PythonRandom::seed(uint64_t seed) {
  // CPython random_seed: the absolute value's 32-bit words, least significant first ([0] for 0).
  std::vector<uint32_t> key;
  for (uint64_t n = seed; n > 0; n >>= 32) key.push_back(uint32_t(n & 0xffffffffu));
  if (key.empty()) key.push_back(0);
  // init_genrand(19650218) then init_by_array(key).
  state_[0] = 19650218u;
  for (int i = 1; i < kN; ++i) state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + uint32_t(i);
  int i = 1;
  size_t j = 0;
  for (int k = std::max<int>(kN, int(key.size())); k > 0; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
    ++i;
    ++j;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
    ++i;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000u;
  index_ = kN;
}

uint32_t PythonRandom::next_uint32() {
  if (index_ >= kN) {
    for (int k = 0; k < kN; ++k) {
      const uint32_t y = (state_[k] & 0x80000000u) | (state_[(k + 1) % kN] & 0x7fffffffu);
      state_[k] = state_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  uint32_t y = state_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t PythonRandom::getrandbits(int bits) {
  if (bits <= 0 || bits > 64) throw Error(ErrorCode::kInternal, "getrandbits: 1..64 bits");
  if (bits <= 32) return next_uint32() >> (32 - bits);
  const uint64_t low = next_uint32();
  const uint64_t high = next_uint32() >> (64 - bits);  // CPython fills words least significant first
  return low | (high << 32);
}

int64_t PythonRandom::randint(int64_t a, int64_t b) {
  if (b < a) throw Error(ErrorCode::kInvalidInput, "randint: empty range");
  const uint64_t n = uint64_t(b - a) + 1;
  int bits = 0;
  while (bits < 64 && (n >> bits) != 0) ++bits;  // n.bit_length()
  uint64_t r = getrandbits(bits);
  while (r >= n) r = getrandbits(bits);
  return a + int64_t(r);
}

}  // namespace matquant::eval
