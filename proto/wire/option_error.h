// The message of a Boost.Program_options error, for every command line and config file Sentinel parses.
//
// Boost 1.74 fills in an error's placeholders ("%value%", "%canonical_option%", ...) until none is left, so a
// value or option name that itself holds a placeholder never ends: what() loops with its memory growing
// (sentinel-agent hung at start on `--scan-threads '%value%'`, found by tests/fuzz/fuzz_agent_config). When the
// input holds a '%', an error about an option is told from the option's name alone; otherwise Boost's own
// message is used unchanged.
#pragma once

#include <boost/program_options/errors.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace sentinel::wire {

inline bool has_percent(const std::vector<std::string>& inputs) {
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const std::string& input) { return input.find('%') != std::string::npos; });
}

inline std::string option_error_text(const boost::program_options::error& e, bool input_has_percent) {
  const auto* named = dynamic_cast<const boost::program_options::error_with_option_name*>(&e);
  if (named == nullptr || !input_has_percent) return e.what();
  return "option '" + named->get_option_name() + "' is unknown, given twice, or has a value it does not accept";
}

// The same, the input being every argument (and config file text) the parser was given.
inline std::string option_error_text(const boost::program_options::error& e, const std::vector<std::string>& inputs) {
  return option_error_text(e, has_percent(inputs));
}

}  // namespace sentinel::wire
