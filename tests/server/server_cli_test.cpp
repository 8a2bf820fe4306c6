// `bitnet serve` as users run it: a subprocess that prints its address,
// answers on loopback, and exits cleanly on SIGTERM and SIGINT.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <regex>

#include "server_test_util.h"

extern char** environ;

namespace bitnet::server::testing {
namespace {

class ServeProcess {
 public:
  // Runs `bitnet serve -m MODEL --port 0 -t 1 --device cpu EXTRA...`.
  ServeProcess(const std::string& model, std::vector<std::string> extra) {
    std::vector<std::string> args = {BITNET_EXE, "serve", "-m", model, "--port", "0", "-t", "1", "--device", "cpu"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    err_fd_ = fds[0];
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(err_fd_);
  }

  // Reads stderr until `pattern` matches (or `seconds` pass); returns the match.
  std::smatch WaitFor(const std::regex& pattern, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::smatch m;
    while (!std::regex_search(stderr_, m, pattern)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{err_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char buf[4096];
      const ssize_t n = read(err_fd_, buf, sizeof(buf));
      if (n <= 0) return {};
      stderr_.append(buf, static_cast<size_t>(n));
    }
    return m;
  }

  // Sends sig and waits up to `seconds`; the exit status, or -1 if it hung.
  int Stop(int sig, double seconds) {
    kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  const std::string& stderr_text() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string stderr_;
};

void ServeAndStop(int sig) {
  if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  ServeProcess p(TinyModelDir(), {"--alias", "cli-model", "--api-key", "k1"});
  const std::smatch m = p.WaitFor(std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"), 20);
  ASSERT_FALSE(m.empty()) << "no listening line on stderr:\n" << p.stderr_text();
  const int port = std::stoi(m[1].str());
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(20, 0);
  // /health answers from the start (503 while loading, then 200).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    httplib::Result r = c.Get("/health");
    ASSERT_TRUE(r) << "the port printed is not answering";
    status = r->status;
    if (status == 200) break;
    EXPECT_EQ(status, 503);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(status, 200) << p.stderr_text();
  const Reply models = Get(c, "/v1/models", {{"Authorization", "Bearer k1"}});
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json()["data"][0]["id"], "cli-model");
  EXPECT_EQ(Get(c, "/v1/models").status, 401);
  const Reply chat = PostJson(c, "/v1/chat/completions",
                              Json{{"messages", Json::array({Json{{"role", "user"}, {"content", "hi"}}})},
                                   {"max_tokens", 3}},
                              {{"Authorization", "Bearer k1"}});
  EXPECT_EQ(chat.status, 200) << chat.body;
  c.stop();
  EXPECT_EQ(p.Stop(sig, 10), 0) << "clean exit on signal " << sig << "\n" << p.stderr_text();
}

TEST(ServerCli, ServesOnLoopbackAndStopsOnSigterm) { ServeAndStop(SIGTERM); }
TEST(ServerCli, StopsOnSigint) { ServeAndStop(SIGINT); }

TEST(ServerCli, AModelThatFailsToLoadEndsTheProcessWithItsError) {
  ServeProcess p("/nonexistent/bitnet-model", {});
  EXPECT_FALSE(p.WaitFor(std::regex("error: .*nonexistent"), 20).empty()) << p.stderr_text();
  EXPECT_EQ(p.Stop(0, 10), 1) << p.stderr_text();
}

}  // namespace
}  // namespace bitnet::server::testing
