#include "bench/load/target.h"

#include <algorithm>
#include <map>

namespace coffer::bench {
namespace {

// Function-local static: safe to use from other translation units' static
// initialisers whatever their order.
std::map<std::string, TargetFactory>& Registry() {
  static auto* registry = new std::map<std::string, TargetFactory>();
  return *registry;
}

}  // namespace

bool RegisterTarget(const std::string& name, TargetFactory factory) {
  Registry()[name] = std::move(factory);
  return true;
}

const TargetFactory* FindTarget(const std::string& name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

std::vector<std::string> TargetNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Registry()) names.push_back(name);
  return names;
}

}  // namespace coffer::bench
