// One include for hosts: the history model, codec, registry, replay engine and replayer.
#pragma once

#include "duroxide/codec.hpp"
#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/orchestration_context.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/replay_engine.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/status.hpp"
#include "duroxide/task.hpp"
#include "duroxide/work_item.hpp"
