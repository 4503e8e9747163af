// The envelope every call of the wasm module answers with, for both JS surfaces
// (bindings.cpp and js_orchestrations.cpp): {"ok":true,"value":...} or
// {"ok":false,"error":message,"kind":kind}, with every exception turned into an
// error of its kind. Text from the engine reaches JS as JSON: malformed UTF-8
// (which only error and log text can hold) is replaced by U+FFFD rather than
// failing the call.
#pragma once

#include <iterator>
#include <stdexcept>
#include <string>

#include <emscripten/val.h>

#include <nlohmann/json.hpp>

#include "duroxide/codec.hpp"
#include "duroxide/commands.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/runtime_client.hpp"

namespace duroxide::wasm {

inline std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string ok(const nlohmann::json& value) { return dump(nlohmann::json{{"ok", true}, {"value", value}}); }

inline std::string failure(const std::string& message, const std::string& kind) {
  return dump(nlohmann::json{{"ok", false}, {"error", message}, {"kind", kind}});
}

// Runs `body` (returning JSON), turning every exception into an error envelope.
template <typename Body>
std::string guarded(Body&& body) {
  try {
    return ok(body());
  } catch (const ClientError& error) {
    static const char* const kinds[] = {"InvalidInput", "NotFound", "AlreadyExists", "Provider",
                                        "AccessDenied", "ReadOnly", "Disabled", "Conflict"};
    static_assert(std::size(kinds) == static_cast<std::size_t>(ClientError::Kind::Conflict) + 1,
                  "every ClientError kind has its name");
    return failure(error.what(), kinds[static_cast<int>(error.kind())]);
  } catch (const CommandError& error) {
    return failure(error.what(), error.kind_name());
  } catch (const ProviderError& error) {
    return failure(error.what(), "Provider");
  } catch (const CodecError& error) {
    return failure(error.what(), "InvalidInput");
  } catch (const nlohmann::json::exception& error) {
    return failure(std::string("bad JSON: ") + error.what(), "InvalidInput");
  } catch (const std::invalid_argument& error) {
    return failure(error.what(), "InvalidInput");
  } catch (const std::exception& error) {
    return failure(error.what(), "internal");
  } catch (...) {
    return failure("the engine threw a non-standard exception", "internal");
  }
}

// Bytes (a database file) as a JavaScript Uint8Array, copied out of the module's memory.
inline emscripten::val to_uint8_array(const std::string& bytes) {
  emscripten::val array = emscripten::val::global("Uint8Array").new_(bytes.size());
  array.call<void>("set", emscripten::val(emscripten::typed_memory_view(
                              bytes.size(), reinterpret_cast<const unsigned char*>(bytes.data()))));
  return array;
}

}  // namespace duroxide::wasm
