// Errors a request handler reports to the client as an OpenAI-style error
// object: {"error":{"message","type","param","code"}} with an HTTP status.
#pragma once
#include <stdexcept>
#include <string>

namespace bitnet::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "",
           std::string type = "")
      : std::runtime_error(message),
        status_(status),
        param_(std::move(param)),
        code_(std::move(code)),
        type_(type.empty() ? DefaultType(status) : std::move(type)) {}

  int status() const { return status_; }
  const std::string& param() const { return param_; }  // empty: null
  const std::string& code() const { return code_; }    // empty: null
  const std::string& type() const { return type_; }

  // OpenAI's type names: clients switch on them.
  static std::string DefaultType(int status) {
    if (status == 401) return "authentication_error";
    if (status == 404) return "not_found_error";
    if (status == 503) return "unavailable_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
  }

 private:
  int status_;
  std::string param_, code_, type_;
};

// The JSON text of the error object for `e`.
std::string ErrorBody(const ApiError& e);

}  // namespace bitnet::server
