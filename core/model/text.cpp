#include "duroxide/text.hpp"

#include <charconv>

namespace duroxide {

namespace {

// Length of the UTF-8 sequence starting at text[i], or 0 if it is malformed.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3
                     : (lead >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  if (length == 2 && lead < 0xC2) return 0;  // overlong
  if (length == 3) {
    unsigned code = ((lead & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F);
    if (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  }
  if (length == 4) {
    unsigned code = ((lead & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) |
                    ((byte(i + 2) & 0x3F) << 6) | (byte(i + 3) & 0x3F);
    if (code < 0x10000 || code > 0x10FFFF) return 0;
  }
  return length;
}

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

}  // namespace

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {  // ASCII: the common case, checked inline
      ++i;
      continue;
    }
    std::size_t length = utf8_sequence(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string utf8_prefix(std::string text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // Back up over continuation bytes to the lead byte of the cut character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

std::string repair_utf8(std::string_view text) {
  if (valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = utf8_sequence(text, i);
    if (length == 0) {
      out += kReplacementCharacter;
      i += 1;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string bounded_text(std::string_view text, std::size_t max_bytes) {
  return utf8_prefix(repair_utf8(text), max_bytes);
}

std::string text_problem(std::string_view value, std::size_t max_bytes, std::string_view what, bool required) {
  if (required && value.empty()) return std::string(what) + " must not be empty";
  if (value.size() > max_bytes) {
    return std::string(what) + " is " + std::to_string(value.size()) + " bytes, over the limit of " +
           std::to_string(max_bytes);
  }
  if (!valid_utf8(value)) return std::string(what) + " is not valid UTF-8";
  return {};
}

std::string key_problem(std::string_view value, std::size_t max_bytes, std::string_view what, bool required) {
  std::string problem = text_problem(value, max_bytes, what, required);
  if (problem.empty() && value.find('\0') != std::string_view::npos) problem = std::string(what) + " holds a NUL byte";
  return problem;
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
  const std::size_t digits = text.size() - (text.empty() || text[0] != '-' ? 0 : 1);
  if (digits == 0 || digits > 19) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace duroxide
