// kernels::kernel_display_name (captured_work.h): host code only, so every build has it and CI tests
// it without a GPU.
#include "kernels/captured_work.h"

#include <cxxabi.h>

#include <cstdlib>

namespace matquant::kernels {

std::string kernel_display_name(const char* mangled) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  // Its parentheses would read as the parameter list.
  for (size_t at = name.find("(anonymous namespace)"); at != std::string::npos; at = name.find("(anonymous namespace)")) {
    name.replace(at, 21, "anonymous");
  }
  // Drop the parameter list, then the return type and namespaces before the function's own name.
  int depth = 0;
  size_t cut = std::string::npos, start = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char ch = name[i];
    if (ch == '<') ++depth;
    if (ch == '>') --depth;
    if (depth == 0 && ch == '(' && cut == std::string::npos && i > 0) cut = i;
    if (depth == 0 && cut == std::string::npos && (ch == ' ' || (ch == ':' && i + 1 < name.size() && name[i + 1] == ':'))) {
      start = ch == ' ' ? i + 1 : i + 2;
    }
  }
  name = name.substr(start, cut == std::string::npos ? std::string::npos : cut - start);
  return name.size() > 120 ? name.substr(0, 117) + "..." : name;
}

}  // namespace matquant::kernels
