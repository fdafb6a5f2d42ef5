// A small Expected<T> for the control-plane side of the pattern language: either a value or an
// operator-facing Error. The project is C++20 (no std::expected), and exceptions must not leave
// the patterns library, so compile and load paths return this instead of throwing.
// Plain value type; any thread.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace fs::patterns {

// What went wrong, written for an operator: names the file and line when there is one, and the
// reason ("rules/local.rules:12: hyperscan: ...").
struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return *std::get_if<1>(&v_);
  }

 private:
  std::variant<T, Error> v_;
};

}  // namespace fs::patterns
