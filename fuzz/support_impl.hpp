// Template definitions of support.hpp.
#pragma once

#include "duroxide/codec.hpp"
#include "duroxide/commands.hpp"

namespace duroxide::fuzz {

template <typename Body>
bool refused_cleanly(Body&& body) {
  try {
    body();
    return true;
  } catch (const CodecError&) {
  } catch (const CommandError&) {
  } catch (const ClientError&) {
  } catch (const ProviderError&) {
  } catch (const std::exception& error) {
    fail(std::string("untyped exception escaped a decoder: ") + typeid(error).name() + ": " + error.what());
  }
  return false;
}

template <typename Decode>
std::string decoded_or_error(Decode&& decode) {
  try {
    return "value " + decode();
  } catch (const CodecError& error) {
    return std::string("error ") + error.what();
  }
}

}  // namespace duroxide::fuzz
