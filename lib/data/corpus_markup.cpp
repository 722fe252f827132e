#include "data/corpus_markup.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <sstream>

namespace matquant::data {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// A line made of one repeated character among *=-. (texinfo heading underlines), ignoring spaces.
bool is_rule_line(const std::string& line) {
  const auto first = line.find_first_not_of(' ');
  if (first == std::string::npos) return false;
  const char c = line[first];
  if (c != '*' && c != '=' && c != '-' && c != '.') return false;
  size_t count = 0;
  for (size_t i = first; i < line.size(); ++i) {
    if (line[i] == c) ++count;
    else if (line[i] != ' ') return false;
  }
  return count >= 3;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// ---- roff ----

// Named roff characters (\(xx and \[xx]) worth keeping; others are dropped.
const std::map<std::string, std::string>& roff_characters() {
  static const std::map<std::string, std::string> names = {
      {"em", "\u2014"}, {"en", "\u2013"}, {"hy", "-"},  {"lq", "\u201C"}, {"rq", "\u201D"},
      {"oq", "\u2018"}, {"cq", "\u2019"}, {"aq", "'"},  {"dq", "\""},     {"bu", "\u2022"},
      {"co", "\u00A9"}, {"rg", "\u00AE"}, {"tm", "\u2122"}, {"mi", "-"}, {"pl", "+"},
      {"mu", "\u00D7"}, {"<=", "\u2264"}, {">=", "\u2265"}, {"ti", "~"}, {"ha", "^"},
      {"rs", "\\"}, {"lh", ""}, {"rh", ""}};
  return names;
}

// Resolves escapes in one line of roff text.
std::string roff_escapes(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out += line[i];
      continue;
    }
    const char e = line[++i];
    auto named = [&](const std::string& name) {
      const auto it = roff_characters().find(name);
      if (it != roff_characters().end()) out += it->second;
    };
    switch (e) {
      case '"':  // comment to end of line
        return out;
      case 'f':  // font: \fB, \f(XX, \f[...]
      case 's':  // size: \s+1, \s-1, \s0
      case '*':  // string: \*X, \*(XX, \*[...]
      case 'n':  // number register
        if (e == 's' && i + 1 < line.size() && (line[i + 1] == '+' || line[i + 1] == '-')) ++i;
        if (i + 1 < line.size() && line[i + 1] == '(') {
          i += 3;
        } else if (i + 1 < line.size() && line[i + 1] == '[') {
          const auto close = line.find(']', i + 1);
          i = close == std::string::npos ? line.size() : close;
        } else {
          ++i;
          if (e == 's') while (i + 1 < line.size() && std::isdigit(static_cast<unsigned char>(line[i + 1]))) ++i;
        }
        break;
      case '(':
        if (i + 2 < line.size()) named(line.substr(i + 1, 2));
        i += 2;
        break;
      case '[': {
        const auto close = line.find(']', i);
        if (close != std::string::npos) named(line.substr(i + 1, close - i - 1));
        i = close == std::string::npos ? line.size() : close;
        break;
      }
      case '-': out += '-'; break;
      case 'e': case '\\': out += '\\'; break;
      case ' ': case '~': case '0': out += ' '; break;
      case '.': out += '.'; break;
      case '\'': out += '\''; break;
      case '`': out += '`'; break;
      default: break;  // \&, \|, \^, \c, \% and unknown escapes vanish
    }
  }
  return out;
}

// Splits a macro's argument list, honouring double quotes.
std::vector<std::string> roff_arguments(const std::string& rest) {
  std::vector<std::string> args;
  std::string current;
  bool quoted = false, any = false;
  for (char c : rest) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if ((c == ' ' || c == '\t') && !quoted) {
      if (any || !current.empty()) args.push_back(current);
      current.clear();
      any = false;
    } else {
      current += c;
    }
  }
  if (any || !current.empty()) args.push_back(current);
  return args;
}

// ---- HTML ----

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void decode_entity(const std::string& entity, std::string& out) {
  static const std::map<std::string, std::string> named = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "},
      {"mdash", "\u2014"}, {"ndash", "\u2013"}, {"hellip", "\u2026"}, {"copy", "\u00A9"},
      {"lsquo", "\u2018"}, {"rsquo", "\u2019"}, {"ldquo", "\u201C"}, {"rdquo", "\u201D"}, {"times", "\u00D7"}};
  if (!entity.empty() && entity[0] == '#') {
    const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
    try {
      const unsigned long cp = std::stoul(entity.substr(hex ? 2 : 1), nullptr, hex ? 16 : 10);
      append_utf8(out, cp == 0xA0 ? 0x20 : uint32_t(cp));
    } catch (...) {
    }
    return;
  }
  const auto it = named.find(entity);
  if (it != named.end()) out += it->second;
}

bool is_block_tag(const std::string& name) {
  static const char* kBlock[] = {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4",
                                 "h5", "h6", "blockquote", "section", "tr", "hr", "title", "body", "article",
                                 "header", "footer", "nav"};
  return std::find(std::begin(kBlock), std::end(kBlock), name) != std::end(kBlock);
}

// Cross references "*note NAME::" and "*note TEXT: LABEL." (either may span a line break) become
// NAME / TEXT. The terminator after a label is the info writer's, kept only where it reads as
// sentence punctuation (a comma, or a period before a capital letter or the end).
std::string resolve_info_references(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const bool note = text.compare(i, 5, "*note") == 0 || text.compare(i, 5, "*Note") == 0;
    if (!note || i + 5 >= text.size() || (text[i + 5] != ' ' && text[i + 5] != '\n')) {
      out += text[i++];
      continue;
    }
    size_t j = text.find_first_not_of(" \n", i + 5);
    const size_t colon = j == std::string::npos ? std::string::npos : text.find(':', j);
    if (colon == std::string::npos || colon - j > 200) {
      out += text[i++];
      continue;
    }
    out += text.substr(j, colon - j);
    if (colon + 1 < text.size() && text[colon + 1] == ':') {
      i = colon + 2;
      continue;
    }
    size_t end = colon + 1;
    while (end < text.size() && text[end] != '.' && text[end] != ',' && end - colon < 200) ++end;
    if (end >= text.size() || end - colon >= 200) {
      i = colon + 1;
      continue;
    }
    const size_t next = text.find_first_not_of(" \n", end + 1);
    const bool sentence_end = next == std::string::npos || std::isupper(static_cast<unsigned char>(text[next]));
    if (text[end] == ',' || (text[end] == '.' && sentence_end)) out += text[end];
    i = end + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> info_nodes_to_text(const std::string& info) {
  std::vector<std::string> nodes;
  size_t start = 0;
  while (start <= info.size()) {
    size_t end = info.find('\x1f', start);
    if (end == std::string::npos) end = info.size();
    std::string chunk = info.substr(start, end - start);
    start = end + 1;
    const auto lines = split_lines(chunk);
    size_t first = 0;
    while (first < lines.size() && lines[first].find_first_not_of(" \t\f") == std::string::npos) ++first;
    // Only real nodes start with "File: ...  Node: ..."; the preamble, "Indirect:" and
    // "Tag Table:" chunks do not.
    if (first >= lines.size() || !starts_with(lines[first], "File:") ||
        lines[first].find("Node:") == std::string::npos) {
      continue;
    }
    std::string text;
    for (size_t i = first + 1; i < lines.size(); ++i) {
      std::string line = lines[i];
      if (starts_with(line, "* Menu:")) break;  // menus close a node
      if (is_rule_line(line) || line.find("---------- Footnotes ----------") != std::string::npos) {
        text += "\n";
        continue;
      }
      // Definition headers (" -- Function: name args") are signatures, not prose.
      if (starts_with(line, " -- ") && line.find(':') != std::string::npos) {
        text += "\n";
        continue;
      }
      line.erase(std::remove_if(line.begin(), line.end(), [](char c) { return c == '\f' || c == '\x7f'; }),
                 line.end());
      text += line;
      text += '\n';
    }
    nodes.push_back(resolve_info_references(text));
  }
  return nodes;
}

std::string roff_to_text(const std::string& roff) {
  static const char* kFontMacros[] = {"B", "I", "BR", "BI", "IB", "IR", "RB", "RI", "SM", "SB", "UR", "MT"};
  std::string text;
  bool skipping = false;   // inside .nf/.fi, .EX/.EE or .TS/.TE
  std::string skip_end;
  for (const std::string& raw : split_lines(roff)) {
    const bool control = !raw.empty() && (raw[0] == '.' || raw[0] == '\'');
    std::string name, rest;
    if (control) {
      const std::string body = raw.substr(1);
      const auto b = body.find_first_not_of(" \t");
      const auto e = b == std::string::npos ? std::string::npos : body.find_first_of(" \t", b);
      name = b == std::string::npos ? "" : body.substr(b, e == std::string::npos ? std::string::npos : e - b);
      rest = e == std::string::npos ? "" : body.substr(body.find_first_not_of(" \t", e) == std::string::npos
                                                           ? body.size()
                                                           : body.find_first_not_of(" \t", e));
    }
    if (skipping) {
      if (control && name == skip_end) skipping = false;
      continue;
    }
    if (!control) {
      const std::string line = roff_escapes(raw);
      if (line.find_first_not_of(" \t") == std::string::npos) text += "\n";  // blank line: paragraph break
      text += line + "\n";
      continue;
    }
    if (starts_with(name, "\\\"") || name.empty()) continue;  // comment or empty request
    if (name == "so") return "";                            // a page that includes another
    if (name == "nf" || name == "EX" || name == "TS") {
      skipping = true;
      skip_end = name == "nf" ? "fi" : name == "EX" ? "EE" : "TE";
      text += "\n";
      continue;
    }
    if (name == "SH" || name == "SS") {
      text += "\n" + roff_escapes(rest) + "\n\n";
      continue;
    }
    if (name == "PP" || name == "P" || name == "LP" || name == "TP" || name == "IP" || name == "sp" ||
        name == "br" || name == "HP" || name == "RS" || name == "RE") {
      text += "\n";
      continue;
    }
    if (std::find(std::begin(kFontMacros), std::end(kFontMacros), name) != std::end(kFontMacros)) {
      // Alternating-font macros join their arguments without spaces (.BR ls (1) -> "ls(1)").
      const bool alternating = name.size() == 2 && name != "SM" && name != "SB" && name != "UR" && name != "MT";
      std::string joined;
      for (const auto& arg : roff_arguments(rest)) joined += (alternating || joined.empty() ? "" : " ") + arg;
      text += roff_escapes(joined) + "\n";
    }
    // every other request (.TH, .ad, .hy, .de, .ft, .in, ...) is layout: dropped
  }
  return text;
}

std::string html_to_text(const std::string& html) {
  std::string text;
  const std::string lowered = lower(html);
  size_t i = 0;
  const size_t n = html.size();
  while (i < n) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        const auto end = html.find("-->", i + 4);
        i = end == std::string::npos ? n : end + 3;
        continue;
      }
      const auto close = html.find('>', i);
      if (close == std::string::npos) break;
      const std::string tag = html.substr(i + 1, close - i - 1);
      i = close + 1;
      const bool end_tag = !tag.empty() && tag[0] == '/';
      size_t name_end = end_tag ? 1 : 0;
      while (name_end < tag.size() && std::isalnum(static_cast<unsigned char>(tag[name_end]))) ++name_end;
      const std::string name = lower(tag.substr(end_tag ? 1 : 0, name_end - (end_tag ? 1 : 0)));
      if (!end_tag && (name == "head" || name == "script" || name == "style" || name == "pre" || name == "table")) {
        // Skip to the matching end tag (these elements do not nest in the pages we read, except
        // tables, whose nesting is counted).
        int depth = 1;
        size_t pos = i;
        while (depth > 0) {
          const auto open_at = lowered.find("<" + name, pos);
          const auto close_at = lowered.find("</" + name, pos);
          if (close_at == std::string::npos) {
            pos = n;
            break;
          }
          if (open_at != std::string::npos && open_at < close_at) {
            ++depth;
            pos = open_at + 1;
          } else {
            --depth;
            pos = close_at + 1;
          }
        }
        const auto end = pos >= n ? std::string::npos : lowered.find('>', pos);
        i = end == std::string::npos ? n : end + 1;
        text += "\n\n";
        continue;
      }
      if (is_block_tag(name)) text += "\n\n";
      continue;
    }
    if (c == '&') {
      const auto semi = html.find(';', i);
      if (semi != std::string::npos && semi - i <= 10) {
        decode_entity(html.substr(i + 1, semi - i - 1), text);
        i = semi + 1;
        continue;
      }
    }
    // HTML whitespace (newlines included) is a space; paragraphs come from block tags only.
    text += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    ++i;
  }
  // One paragraph per line, separated by blank lines.
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    out += line + "\n\n";
  }
  return out;
}

}  // namespace matquant::data
