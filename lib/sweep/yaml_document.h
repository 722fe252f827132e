#pragma once
// One YAML document from text a user wrote (or a hostile file): checked before anything walks it.
// yaml-cpp shares an aliased node instead of copying it, so `&a {x: *a}` is a cycle (walking it
// never ends) and nested aliases ("billion laughs") expand exponentially when read; it also keeps
// the first of two equal keys and Load ignores every document after the first. All of these are
// refused here, from the parser's events, in time linear in the file's size.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

namespace matquant::sweep {

struct YamlLimits {
  size_t max_bytes = size_t(4) << 20;  // the reference sweeps are a few KB
  size_t max_nodes = 100000;           // after expanding aliases (the reference sweeps: < 2,000)
  size_t max_depth = 64;               // nesting of mappings and lists
};

// Returns the document's root. Appends each problem as "FILE:LINE:COL: message" (and returns a
// null node) when the text is over max_bytes, not UTF-8, not valid YAML, holds a second document,
// repeats a key in one mapping, uses a non-scalar key, has an alias inside the node it names, or
// expands beyond max_nodes or max_depth.
YAML::Node load_yaml_document(const std::string& text, const std::string& file, std::vector<std::string>& errors,
                              const YamlLimits& limits = {});

}  // namespace matquant::sweep
