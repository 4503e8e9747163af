#include "duroxide/registry.hpp"

#include <stdexcept>

#include "duroxide/limits.hpp"

namespace duroxide {

namespace {

void check_name(const std::string& name, const char* what) {
  if (name.empty() || name.size() > limits::kMaxNameBytes) {
    throw std::invalid_argument(std::string(what) + " name must be 1 to " +
                                std::to_string(limits::kMaxNameBytes) + " bytes");
  }
}

SemVer require_version(const std::string& name, const std::string& version) {
  auto parsed = SemVer::parse(version);
  if (!parsed) {
    throw std::invalid_argument("orchestration " + name + ": version \"" + version +
                                "\" is not MAJOR.MINOR.PATCH");
  }
  return *parsed;
}

}  // namespace

void Registry::register_orchestration(const std::string& name, OrchestrationFn fn) {
  register_orchestration(name, kDefaultVersion, std::move(fn));
}

void Registry::register_orchestration(const std::string& name, const std::string& version,
                                      OrchestrationFn fn) {
  check_name(name, "orchestration");
  if (!fn) throw std::invalid_argument("orchestration " + name + ": empty function");
  SemVer parsed = require_version(name, version);
  auto& versions = orchestrations_[name].by_version;
  if (!versions.emplace(parsed, std::move(fn)).second) {
    throw std::invalid_argument("orchestration " + name + " " + version +
                                " is already registered");
  }
}

void Registry::replace_orchestration(const std::string& name, const std::string& version,
                                     OrchestrationFn fn) {
  check_name(name, "orchestration");
  if (!fn) throw std::invalid_argument("orchestration " + name + ": empty function");
  orchestrations_[name].by_version[require_version(name, version)] = std::move(fn);
}

void Registry::set_version_policy(const std::string& name, VersionPolicy policy,
                                  const std::string& version) {
  auto it = orchestrations_.find(name);
  if (it == orchestrations_.end()) {
    throw std::invalid_argument("orchestration " + name + " is not registered");
  }
  if (policy == VersionPolicy::Exact) {
    SemVer pinned = require_version(name, version);
    if (!it->second.by_version.count(pinned)) {
      throw std::invalid_argument("orchestration " + name + " has no version " + version);
    }
    it->second.pinned = pinned;
  }
  it->second.policy = policy;
}

void Registry::register_activity(const std::string& name, ActivityFn fn) {
  check_name(name, "activity");
  if (!fn) throw std::invalid_argument("activity " + name + ": empty function");
  if (!activities_.emplace(name, std::move(fn)).second) {
    throw std::invalid_argument("activity " + name + " is already registered");
  }
}

void Registry::replace_activity(const std::string& name, ActivityFn fn) {
  check_name(name, "activity");
  if (!fn) throw std::invalid_argument("activity " + name + ": empty function");
  activities_[name] = std::move(fn);
}

std::optional<Registry::Resolved> Registry::resolve_for_start(
    const std::string& name, const std::string& requested_version) const {
  auto it = orchestrations_.find(name);
  if (it == orchestrations_.end()) return std::nullopt;
  const Versions& versions = it->second;
  SemVer chosen;
  if (!requested_version.empty()) {
    auto parsed = SemVer::parse(requested_version);
    if (!parsed) return std::nullopt;
    chosen = *parsed;
  } else if (versions.policy == VersionPolicy::Exact) {
    chosen = versions.pinned;
  } else {
    chosen = versions.by_version.rbegin()->first;
  }
  auto found = versions.by_version.find(chosen);
  if (found == versions.by_version.end()) return std::nullopt;
  return Resolved{chosen.to_string(), &found->second};
}

const OrchestrationFn* Registry::find_orchestration(const std::string& name,
                                                    const std::string& version) const {
  auto it = orchestrations_.find(name);
  auto parsed = SemVer::parse(version);
  if (it == orchestrations_.end() || !parsed) return nullptr;
  auto found = it->second.by_version.find(*parsed);
  return found == it->second.by_version.end() ? nullptr : &found->second;
}

const ActivityFn* Registry::find_activity(const std::string& name) const {
  auto it = activities_.find(name);
  return it == activities_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::orchestration_names() const {
  std::vector<std::string> names;
  for (const auto& entry : orchestrations_) names.push_back(entry.first);
  return names;
}

std::vector<std::string> Registry::orchestration_versions(const std::string& name) const {
  std::vector<std::string> out;
  auto it = orchestrations_.find(name);
  if (it == orchestrations_.end()) return out;
  for (const auto& entry : it->second.by_version) out.push_back(entry.first.to_string());
  return out;
}

std::vector<std::string> Registry::activity_names() const {
  std::vector<std::string> names;
  for (const auto& entry : activities_) names.push_back(entry.first);
  return names;
}

}  // namespace duroxide
