// Which activities a worker takes, by the tag each was scheduled with
// (OrchestrationContext::schedule_activity with ActivityOptions::tag). An untagged
// activity has the empty tag. Routes activities to the workers that can run them:
// a GPU pool takes `TagFilter::only({"gpu"})`, the rest keep the default.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace duroxide {

struct TagFilter {
  enum class Mode {
    DefaultOnly,  // untagged activities only (the default)
    Tags,         // only activities with one of `tags`
    DefaultAnd,   // untagged activities and those with one of `tags`
    Any,          // every activity, whatever its tag
    None,         // no activity: a runtime that only runs orchestrations
  };
  Mode mode = Mode::DefaultOnly;
  std::vector<std::string> tags;  // for Tags and DefaultAnd: 1..limits::kMaxWorkerTags

  static TagFilter default_only() { return {}; }
  static TagFilter any() { return {Mode::Any, {}}; }
  static TagFilter none() { return {Mode::None, {}}; }
  static TagFilter only(std::vector<std::string> tag_list) { return {Mode::Tags, std::move(tag_list)}; }
  static TagFilter default_and(std::vector<std::string> tag_list) {
    return {Mode::DefaultAnd, std::move(tag_list)};
  }

  // Whether untagged activities are taken. Which tagged ones are is the stores' rule
  // (a tag in `tags` for Tags and DefaultAnd, every tag for Any).
  bool takes_untagged() const { return mode == Mode::DefaultOnly || mode == Mode::DefaultAnd || mode == Mode::Any; }
  // Empty when the filter is valid; else what is wrong with it: Tags and DefaultAnd
  // name 1..kMaxWorkerTags distinct tags, each 1..kMaxTagBytes of UTF-8; the other
  // modes name none.
  std::string problem() const;
  // "default-only", "any", "none", "tags(gpu, fpga)", "default-and(gpu)".
  std::string to_string() const;

  friend bool operator==(const TagFilter&, const TagFilter&) = default;
};

}  // namespace duroxide
