// Progress of long work (synth, convert, a long prefill) on one stderr line,
// redrawn with \r. Silent unless the program turned it on (the CLI does; a
// library user embedding the engine gets no output it did not ask for) and
// stderr is a terminal: a log file or a pipe gets no \r clutter.
#pragma once
#include <cstdint>
#include <string>

namespace bitnet {

// The CLI calls this once at start-up; false (the default) silences every Progress.
void EnableProgress(bool on);
// Whether a Progress would draw now: enabled and stderr is a TTY.
bool ProgressActive();

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();  // clears the line, so later output starts clean
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Redraws only when the whole percentage changes: cheap to call per item.
  void Update(int64_t done);

 private:
  std::string label_;
  int64_t total_;
  int last_percent_ = -1;
  bool active_;
};

}  // namespace bitnet
