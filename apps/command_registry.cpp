#include "command_registry.h"

#include "common/error.h"

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {

std::vector<Command>& command_registry() {
  static std::vector<Command> registry;
  return registry;
}

RegisterCommand::RegisterCommand(Command command) {
  command_registry().push_back(std::move(command));
}

bool parse_command_line(const std::string& command, const std::string& usage,
                        const po::options_description& options,
                        const po::positional_options_description& positional, const Args& args,
                        po::variables_map& out) {
  po::options_description all(options);
  all.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), out);
    if (out.count("help")) {
      std::cout << "usage: matquant " << command << " " << usage << "\n\n" << all << "\n";
      return false;
    }
    po::notify(out);
  } catch (const po::error& e) {
    throw_usage("matquant " + command + ": " + e.what() + " (see 'matquant " + command +
                " --help')");
  }
  // Every command's --device means the same thing; LibTorch's own parser would accept "mps" or
  // "xla" and fail later with its own message.
  if (out.count("device")) {
    const std::string device = out["device"].as<std::string>();
    const bool cuda_index = device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
                            device.find_first_not_of("0123456789", 5) == std::string::npos;
    if (device != "cpu" && device != "cuda" && !cuda_index) {
      throw_usage("matquant " + command + ": --device must be cpu, cuda or cuda:N, not '" + device + "'");
    }
  }
  // Counts and lengths given on the command line are never negative (-1 is not "all").
  for (const char* option : {"limit", "max-length", "batch-size", "max-runs", "max-parallel", "retries"}) {
    if (!out.count(option) || out[option].defaulted()) continue;
    const auto& value = out[option].value();
    const bool negative = (value.type() == typeid(int64_t) && boost::any_cast<int64_t>(value) < 0) ||
                          (value.type() == typeid(int) && boost::any_cast<int>(value) < 0);
    if (negative) throw_usage("matquant " + command + ": --" + std::string(option) + " must not be negative");
  }
  return true;
}

}  // namespace matquant::apps
