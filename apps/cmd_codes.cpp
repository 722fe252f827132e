// `matquant codes`: prints how every c-bit code falls into the r-bit buckets (S(q^c, r)).
#include "command_registry.h"

#include "quant/slicing.h"

#include <cstdio>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_codes(const Args& args) {
  int from_bits = 8;
  int to_bits = 0;
  po::options_description options("options");
  options.add_options()
      ("from", po::value(&from_bits)->default_value(8), "source bit width c (1..16)")
      ("to", po::value(&to_bits)->required(), "sliced bit width r (1..c)")
      ("extra-precision", po::bool_switch(), "Eq. 8 slicing: no clamp, 2^r + 1 levels");
  po::variables_map vm;
  if (!parse_command_line("codes", "--to R [--from C] [--extra-precision]", options, {}, args, vm)) {
    return 0;
  }
  const auto mode = vm["extra-precision"].as<bool>() ? quant::SliceMode::kExtraPrecision
                                                     : quant::SliceMode::kClamped;
  quant::check_slice_bits(from_bits, to_bits);
  const int64_t count = int64_t{1} << from_bits;
  for (int64_t code = 0; code < count; ++code) {
    std::printf("%lld\t%lld\n", static_cast<long long>(code),
                static_cast<long long>(quant::slice_code(code, from_bits, to_bits, mode)));
  }
  return 0;
}

const RegisterCommand kRegister{
    {"codes", "print each c-bit code and its r-bit slice S(q^c, r)", &run_codes}};

}  // namespace
}  // namespace matquant::apps
