// Runs the IRON design script (npu/designs/bitlinear_gemv.py) against the
// recording stand-in for aie.iron (npu/iron_record) and returns the program
// it built, as JSON.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/npu/tiling_plan.h"
#include "util/error.h"

namespace bitnet::npu_test {

// `script` is a design under npu/designs/; `extra` more arguments for it.
inline nlohmann::json RecordDesign(const NpuTilingPlan& plan, const std::string& script = "bitlinear_gemv.py",
                                   const std::string& extra = "") {
  const std::string root = BITNET_SOURCE_DIR;
  const auto dir = std::filesystem::temp_directory_path() / ("npu_iron_record_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto plan_path = dir / "plan.json";
  std::ofstream(plan_path) << plan.ToJson();
  const std::string cmd = "PYTHONPATH='" + root + "/npu/iron_record:" + root +
                          "/npu/iron_record/numpy_fallback' python3 '" + root + "/npu/designs/" + script + "' --plan '" +
                          plan_path.string() + "' " + extra + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe.get())) out.append(buf, n);
  const int status = pclose(pipe.release());
  std::filesystem::remove_all(dir);
  if (status != 0) throw Error("recorder failed: " + cmd + "\n" + out);
  return nlohmann::json::parse(out);
}

}  // namespace bitnet::npu_test
