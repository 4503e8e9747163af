#include "duroxide/tag_filter.hpp"

#include <algorithm>

#include "duroxide/limits.hpp"
#include "duroxide/text.hpp"

namespace duroxide {

std::string TagFilter::problem() const {
  const bool lists = mode == Mode::Tags || mode == Mode::DefaultAnd;
  if (!lists) return tags.empty() ? std::string() : "a tag filter of mode " + to_string() + " names no tags";
  if (tags.empty()) return "a tag filter of mode " + to_string() + " names at least one tag";
  if (tags.size() > limits::kMaxWorkerTags) {
    return "a tag filter names " + std::to_string(tags.size()) + " tags, over the limit of " +
           std::to_string(limits::kMaxWorkerTags);
  }
  for (std::size_t i = 0; i < tags.size(); ++i) {
    std::string problem = key_problem(tags[i], limits::kMaxTagBytes, "a tag filter's tag", true);
    if (!problem.empty()) return problem;
    if (std::find(tags.begin(), tags.begin() + static_cast<std::ptrdiff_t>(i), tags[i]) !=
        tags.begin() + static_cast<std::ptrdiff_t>(i)) {
      return "a tag filter names the tag \"" + tags[i] + "\" twice";
    }
  }
  return {};
}

std::string TagFilter::to_string() const {
  std::string list;
  for (const std::string& tag : tags) list += (list.empty() ? "" : ", ") + tag;
  switch (mode) {
    case Mode::DefaultOnly: return "default-only";
    case Mode::Any: return "any";
    case Mode::None: return "none";
    case Mode::Tags: return "tags(" + list + ")";
    case Mode::DefaultAnd: return "default-and(" + list + ")";
  }
  return "unknown";
}

}  // namespace duroxide
