#include "sweep/yaml_document.h"

#include "common/utf8_check.h"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <set>
#include <sstream>

namespace matquant::sweep {
namespace {

// Counts and checks the parser's events; the tree itself is built afterwards by YAML::Load, only
// when these checks pass.
class DocumentChecker : public YAML::EventHandler {
 public:
  DocumentChecker(const std::string& file, const YamlLimits& limits, std::vector<std::string>& errors)
      : file_(file), limits_(limits), errors_(errors) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) fail(mark, "a sweep file holds one YAML document; a second one starts here (remove the `---`)");
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, "~"); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(mark, anchor, value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (stopped()) return;
    if (key_position()) fail(mark, "a mapping key must be plain text, not an alias");
    after_key_or_value();
    if (open_anchors_.count(anchor)) {
      fail(mark, "this alias names a node that contains it (a cycle); it would never end");
      return;
    }
    const auto size = anchor_sizes_.find(anchor);
    count(mark, size == anchor_sizes_.end() ? 1 : size->second);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

  bool stopped() const { return stop_ || documents_ > 1; }

 private:
  struct Frame {
    bool map;
    YAML::anchor_t anchor;
    size_t total_at_start;
    bool expect_key = true;                       // maps: the next node is a key
    std::map<std::string, YAML::Mark> keys;       // maps: keys seen, for duplicates
  };

  std::string where(const YAML::Mark& mark) const {
    return file_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  void fail(const YAML::Mark& mark, const std::string& message) { errors_.push_back(where(mark) + ": " + message); }

  bool key_position() const { return !frames_.empty() && frames_.back().map && frames_.back().expect_key; }
  void after_key_or_value() {
    if (!frames_.empty() && frames_.back().map) frames_.back().expect_key = !frames_.back().expect_key;
  }

  // Adds `nodes` to the expanded size; past the limit, stops checking (the rest would only repeat).
  void count(const YAML::Mark& mark, size_t nodes) {
    total_ = nodes > limits_.max_nodes ? limits_.max_nodes + 1 : total_ + nodes;
    if (total_ > limits_.max_nodes) {
      fail(mark, "the document expands to more than " + std::to_string(limits_.max_nodes) +
                     " nodes by here (aliases count once per use); a sweep file needs far fewer");
      stop_ = true;
    }
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& text) {
    if (stopped()) return;
    if (key_position()) {
      auto& keys = frames_.back().keys;
      const auto [it, inserted] = keys.emplace(text, mark);
      if (!inserted) {
        fail(mark, "'" + text + "' is given twice in one mapping (first at line " + std::to_string(it->second.line + 1) +
                       "); YAML would silently keep one");
      }
    }
    after_key_or_value();
    const size_t before = total_;
    count(mark, 1);
    if (anchor != YAML::NullAnchor) anchor_sizes_[anchor] = total_ - before;
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    if (stopped()) return;
    if (key_position()) fail(mark, "a mapping key must be plain text, not a " + std::string(map ? "mapping" : "list"));
    after_key_or_value();
    if (frames_.size() >= limits_.max_depth) {
      fail(mark, "nested more than " + std::to_string(limits_.max_depth) + " levels deep");
      stop_ = true;
      return;
    }
    frames_.push_back({map, anchor, total_});
    if (anchor != YAML::NullAnchor) open_anchors_.insert(anchor);
    count(mark, 1);
  }

  void close() {
    if (stopped() || frames_.empty()) return;
    const Frame& frame = frames_.back();
    if (frame.anchor != YAML::NullAnchor) {
      open_anchors_.erase(frame.anchor);
      anchor_sizes_[frame.anchor] = total_ - frame.total_at_start;
    }
    frames_.pop_back();
  }

  const std::string& file_;
  const YamlLimits& limits_;
  std::vector<std::string>& errors_;
  int documents_ = 0;
  bool stop_ = false;
  size_t total_ = 0;
  std::vector<Frame> frames_;
  std::map<YAML::anchor_t, size_t> anchor_sizes_;  // expanded size of each closed anchored node
  std::set<YAML::anchor_t> open_anchors_;          // anchored nodes still being read
};

}  // namespace

YAML::Node load_yaml_document(const std::string& text, const std::string& file, std::vector<std::string>& errors,
                              const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    errors.push_back(file + ": larger than the limit of " + std::to_string(limits.max_bytes) + " bytes for a sweep file");
    return YAML::Node();
  }
  const std::string utf8 = utf8_error_message(text, file);
  if (!utf8.empty()) {
    errors.push_back(utf8);
    return YAML::Node();
  }
  // YAML allows no C0 control characters but tab, LF and CR; yaml-cpp's messages about them
  // would print the byte itself.
  long line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    } else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
      static const char* kHex = "0123456789ABCDEF";
      errors.push_back(file + ":" + std::to_string(line) + ":" + std::to_string(i - line_start + 1) +
                       ": control character 0x" + kHex[c >> 4] + kHex[c & 15] + " at byte offset " + std::to_string(i) +
                       "; YAML text may not contain it");
      return YAML::Node();
    }
  }
  const size_t errors_before = errors.size();
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentChecker checker(file, limits, errors);
    while (!checker.stopped() && parser.HandleNextDocument(checker)) {
    }
    if (errors.size() != errors_before) return YAML::Node();
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (errors.size() != errors_before) return YAML::Node();  // the checker stopped first: that is the cause
    errors.push_back(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                     ": YAML syntax: " + e.msg);
    return YAML::Node();
  }
}

}  // namespace matquant::sweep
