#pragma once
// Markup stripping for the documentation formats `matquant corpus build` reads (GNU info, roff
// manual pages, HTML, plain text). Each returns plain text whose paragraphs are separated by blank
// lines; lines inside a paragraph are joined later (corpus_cleaning.h). Crude on purpose: what a
// stripper leaves behind (code, tables) is removed by the prose filter, not here.
#include <string>
#include <vector>

namespace matquant::data {

// One text per node of an info file (nodes are separated by 0x1F). The node header line, menus
// (from "* Menu:" to the node's end), definition headers (" -- Function: ..."), heading
// underlines, footnote rules, the tag table and the preamble are dropped; cross references
// ("*note X::", "*note TEXT: LABEL.") become their text.
std::vector<std::string> info_nodes_to_text(const std::string& info);

// Text of a manual page in man(7) roff: requests and macros are dropped (font macros .B/.I/.BR...
// keep their arguments, .SH/.SS headings and .PP/.TP/.IP start paragraphs), no-fill blocks
// (.nf/.fi, .EX/.EE) and tables (.TS/.TE) are dropped, escapes (\fB, \-, \(em, \*(..) resolved or removed.
// A page that only includes another (.so) yields "".
std::string roff_to_text(const std::string& roff);

// Text of an HTML page: head, script, style, pre and table elements are dropped, block elements
// end paragraphs, other tags are removed, entities decoded.
std::string html_to_text(const std::string& html);

}  // namespace matquant::data
