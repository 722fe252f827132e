#pragma once
// MXINTd-b (seed 004's notation; the OCP Microscaling formats v1.0): blocks of b consecutive values
// along the last dimension share one 8-bit power-of-two scale X = 2^e (E8M0, e in [-127, 127]),
// and each value keeps a d-bit signed element P, so v ~ X * P. As the OCP spec and Microsoft's
// reference library (microsoft/microxcaling, mx/mx_ops.py) define the integer elements:
//   e = floor(log2(max |v| in the block))            (an all-zero block takes e = -127)
//   element code k = clamp(round_half_away(v / 2^e * 2^(d-2)), -(2^(d-1) - 1), 2^(d-1) - 1)
//   value = k * 2^(e - (d-2))
// i.e. a d-bit element is a two's-complement fixed-point number with d-2 fractional bits whose
// largest magnitude (2^(d-1) - 1) / 2^(d-2) is just under 2; -2^(d-1) is never used (symmetric).
//
// Matryoshka MXINT: the d-bit codes of MXINT8, sliced to r bits under the same shared scale,
// k_r = clamp(round_half_away(k_8 / 2^(8-r)), -(2^(r-1) - 1), 2^(r-1) - 1), are elements of MXINTr
// with the same e, since MXINTr's grid is MXINT8's every 2^(8-r)-th point. One store of int8 codes
// and scales serves MXINT8, MXINT4 and MXINT2.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace matquant::quant {

struct MxFormat {
  int element_bits = 8;    // d: 2..8
  int64_t block_size = 128;  // b
  std::string name() const;  // "mxint8-128"
};

// "mxint4-128", "MXINT8-16"; an invalid name is an invalid-input error naming it.
MxFormat parse_mx_format(const std::string& text);

constexpr int kMxMinExponent = -127;
constexpr int kMxMaxExponent = 127;

struct MxCodes {
  at::Tensor codes;      // int8, the input's shape: element codes k
  at::Tensor exponents;  // int16 [..., ceil(last / b)]: the shared e of each block
  MxFormat format;
  at::Tensor dequantize(at::ScalarType dtype = at::kFloat) const;
};

// Blocks run along the last dimension; a last block shorter than b (a dimension not divisible by
// b) is its own block. A block whose exponent would exceed 127 (|v| >= 2^128) is an error.
MxCodes mx_quantize(const at::Tensor& values, const MxFormat& format);

// dequantize(quantize(values)): the value an MXINT weight holds.
at::Tensor mx_fake_quantize(const at::Tensor& values, const MxFormat& format);
// The same values without the check for non-finite inputs, which synchronises with the device on
// every call (activations, quant/activation_quant.h): NaN and Inf propagate instead of raising.
at::Tensor mx_fake_quantize_unchecked(const at::Tensor& values, const MxFormat& format);

// Matryoshka MXINT: codes of `from` bits sliced to `to_bits` under the same exponents.
MxCodes slice_mx_codes(const MxCodes& from, int to_bits);

// Scalar references, written independently of the tensor path (tests compare the two).
int mx_shared_exponent(double block_absmax);
int mx_element_code(double value, int exponent, int element_bits);
int mx_slice_code(int code, int from_bits, int to_bits);

}  // namespace matquant::quant
