// Store: one database seen through both of its interfaces — the hot-path Provider
// (peek-lock queues, fetch/ack/abandon) and the cold-path ManagementProvider
// (listings, details, statistics, deletion). Every store implementation is one.
#pragma once

#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"

namespace duroxide {

class Store : public Provider, public ManagementProvider {
 public:
  ~Store() override = default;
};

}  // namespace duroxide
