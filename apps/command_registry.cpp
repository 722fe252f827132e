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
  return true;
}

}  // namespace matquant::apps
