#pragma once
// Subcommands register themselves here, one file each (apps/cmd_*.cpp).
#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace matquant::apps {

using Args = std::vector<std::string>;

struct Command {
  std::string name;
  std::string summary;
  int (*run)(const Args& args);
};

std::vector<Command>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(Command command);
};

// Parses a subcommand's options. Prints help and returns false on --help; user errors throw
// matquant::Error(kUsage).
bool parse_command_line(const std::string& command, const std::string& usage,
                        const boost::program_options::options_description& options,
                        const boost::program_options::positional_options_description& positional,
                        const Args& args, boost::program_options::variables_map& out);

}  // namespace matquant::apps
