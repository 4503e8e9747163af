// Task<T>: the coroutine type of orchestration code.
//
// Contract:
// - lazy: a Task runs only when awaited (or handed to the engine);
// - single-threaded and deterministic: starting a child and resuming its parent
//   both go through the replay engine's ready queue (FIFO), never through
//   recursion, so deep loops of already-completed awaits cannot grow the stack;
// - an exception escaping the coroutine is rethrown to whoever awaits it;
// - destroying a Task destroys its frame (and with it every DurableFuture it
//   holds, which cancels the work they stand for).
// Tasks may only be awaited while the replay engine runs a turn.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "duroxide/assert.hpp"

namespace duroxide {

namespace detail {

// The engine's ready queue. Set for the duration of a turn on the running thread.
class Scheduler {
 public:
  virtual void schedule(std::coroutine_handle<> handle) = 0;
  // Called when a frame is destroyed: drop it from the queue if it is there.
  virtual void forget(std::coroutine_handle<> handle) = 0;

 protected:
  ~Scheduler() = default;
};

Scheduler& current_scheduler();
Scheduler* current_scheduler_or_null();

struct TaskPromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr error;
  void* frame = nullptr;

  TaskPromiseBase() = default;
  TaskPromiseBase(const TaskPromiseBase&) = delete;
  TaskPromiseBase& operator=(const TaskPromiseBase&) = delete;
  ~TaskPromiseBase() {
    if (Scheduler* scheduler = current_scheduler_or_null(); scheduler && frame) {
      scheduler->forget(std::coroutine_handle<>::from_address(frame));
    }
  }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename Promise>
    void await_suspend(std::coroutine_handle<Promise> self) noexcept {
      if (self.promise().continuation) current_scheduler().schedule(self.promise().continuation);
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  template <typename U>
  void return_value(U&& result) {
    value.emplace(std::forward<U>(result));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    DUROXIDE_ASSERT(value.has_value(), "a finished task holds its value");
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <typename T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::TaskPromise<T> {
    Task get_return_object() {
      auto handle = std::coroutine_handle<promise_type>::from_promise(*this);
      this->frame = handle.address();
      return Task(handle);
    }
  };
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle handle) : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const { return static_cast<bool>(handle_); }
  bool done() const { return handle_ && handle_.done(); }
  Handle handle() const { return handle_; }
  // The result of a finished task; rethrows what escaped it.
  T take_result() { return handle_.promise().take(); }
  void reset() {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  // Awaiting starts the task through the ready queue and resumes the awaiter
  // (again through the queue) when it finishes.
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> awaiter) {
    handle_.promise().continuation = awaiter;
    detail::current_scheduler().schedule(handle_);
  }
  T await_resume() { return handle_.promise().take(); }

 private:
  Handle handle_;
};

}  // namespace duroxide
