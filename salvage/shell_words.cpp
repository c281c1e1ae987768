// Volume-name validation and shell quoting for plan commands; see shell_words.h for the contract.
#include "salvage/shell_words.h"

#include <cstdio>

namespace sentinel::salvage {
namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string describe_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + c + "'";
  if (byte == ' ') return "a space";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", byte);
  return buf;
}

}  // namespace

std::string volume_name_problem(std::string_view name) {
  if (name.empty()) return "the volume name is empty";
  if (name.size() < 2) return "a Longhorn volume name has at least 2 characters";
  if (name.size() > 63) {
    return "the name has " + std::to_string(name.size()) +
           " characters; a Longhorn volume name (a label value) has at most 63";
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (lower_alnum(c)) continue;
    const bool inner = i != 0 && i + 1 != name.size();
    if (inner && (c == '-' || c == '.')) continue;
    std::string where = i == 0 ? "first" : (i + 1 == name.size() ? "last" : "at position " + std::to_string(i + 1));
    std::string problem = "the name has " + describe_char(c) + " " + where + " (character " + std::to_string(i + 1) +
                          " of " + std::to_string(name.size()) + "): a Longhorn volume name ";
    if (c == '-' || c == '.') return problem + "starts and ends with a lowercase letter or digit";
    if (c >= 'A' && c <= 'Z') return problem + "has no uppercase letters";
    return problem + "holds only lowercase letters, digits, '-' and '.'";
  }
  return "";
}

std::string shell_word(std::string_view word) {
  bool plain = !word.empty();
  for (char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
                    c == '.' || c == '_' || c == '+' || c == ':' || c == '=' || c == ',' || c == '@' || c == '%' ||
                    c == '-';
    if (!ok) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(word);
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace sentinel::salvage
