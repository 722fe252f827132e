#include "distributed/launch_environment.h"

#include "common/error.h"

#include <cstdlib>
#include <string>

extern char** environ;

namespace matquant::distributed {

namespace {

std::optional<std::string> lookup(const std::map<std::string, std::string>& env, const std::string& name) {
  const auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

int parse_count(const std::string& name, const std::string& text, int minimum) {
  size_t used = 0;
  long value = -1;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < minimum || value > 1 << 20) {
    throw_invalid("environment variable " + name + "='" + text + "' is not an integer >= " + std::to_string(minimum));
  }
  return int(value);
}

// The first of `names` that is set, parsed; `fallback` when none is.
int first_count(const std::map<std::string, std::string>& env, std::initializer_list<const char*> names, int minimum,
                int fallback) {
  for (const char* name : names) {
    if (auto text = lookup(env, name)) return parse_count(name, *text, minimum);
  }
  return fallback;
}

}  // namespace

std::optional<LaunchEnvironment> launch_environment_from(const std::map<std::string, std::string>& env) {
  LaunchEnvironment out;
  out.world_size = first_count(env, {"WORLD_SIZE", "SLURM_NTASKS"}, 1, 1);
  if (out.world_size == 1) return std::nullopt;
  const bool torchrun = lookup(env, "WORLD_SIZE").has_value();
  const char* rank_name = torchrun ? "RANK" : "SLURM_PROCID";
  if (!lookup(env, rank_name)) {
    throw_invalid(std::string("environment variable ") + rank_name + " is missing (a run of " +
                  std::to_string(out.world_size) + " processes needs each one's rank)");
  }
  out.rank = parse_count(rank_name, *lookup(env, rank_name), 0);
  if (out.rank >= out.world_size) {
    throw_invalid(std::string("environment variable ") + rank_name + "=" + std::to_string(out.rank) +
                  " is not below the world size " + std::to_string(out.world_size));
  }
  out.local_rank = torchrun ? first_count(env, {"LOCAL_RANK"}, 0, out.rank) : first_count(env, {"SLURM_LOCALID"}, 0, 0);
  if (auto address = lookup(env, "MASTER_ADDR")) out.master_addr = *address;
  if (auto port = lookup(env, "MASTER_PORT")) {
    out.master_port = parse_count("MASTER_PORT", *port, 1);
    if (out.master_port > 65535) throw_invalid("environment variable MASTER_PORT=" + *port + " is not a port");
  }
  return out;
}

std::optional<LaunchEnvironment> launch_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string text(*entry);
    const size_t eq = text.find('=');
    if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
  }
  return launch_environment_from(env);
}

std::map<std::string, std::string> launch_variables(const LaunchEnvironment& environment) {
  return {{"RANK", std::to_string(environment.rank)},
          {"WORLD_SIZE", std::to_string(environment.world_size)},
          {"LOCAL_RANK", std::to_string(environment.local_rank)},
          {"MASTER_ADDR", environment.master_addr},
          {"MASTER_PORT", std::to_string(environment.master_port)}};
}

}  // namespace matquant::distributed
