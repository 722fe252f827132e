#include "sweep/run_names.h"

#include <cctype>
#include <cstring>

namespace matquant::sweep {

std::string name_problem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 200) return "is " + std::to_string(name.size()) + " bytes long; at most 200";
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("._+=@,:-/", c) == nullptr) {
      const std::string shown =
          std::isprint(static_cast<unsigned char>(c)) ? "'" + std::string(1, c) + "'" : "a non-ASCII or control byte";
      return "uses " + shown + ", which is not allowed (names use " + std::string(kNameCharacters) + ")";
    }
  }
  if (name.front() == '/' || name.back() == '/') return "must not start or end with '/'";
  size_t start = 0;
  while (start <= name.size()) {
    const size_t slash = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, slash - start);
    if (part.empty()) return "has an empty part between two '/'";
    if (part == "." || part == "..") return "has a part '" + part + "'; '.' and '..' are not names";
    start = slash + 1;
  }
  return "";
}

}  // namespace matquant::sweep
