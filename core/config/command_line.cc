#include "core/config/command_line.h"

namespace twincache {

std::string VersionLine(const std::string& program) { return program + " " + kTwincacheVersion; }

ParseOutcome ParseCommandLine(CLI::App& app, int argc, const char* const* argv, int usage_exit) {
  ParseOutcome outcome;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    outcome.exit_now = true;
    outcome.message = e.what();
    return outcome;
  } catch (const CLI::Success&) {  // --help
    outcome.exit_now = true;
    outcome.message = app.help();
    return outcome;
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = usage_exit;
    outcome.message = e.what();
    return outcome;
  }
  outcome.ok = true;
  return outcome;
}

}  // namespace twincache
