// UTF-8 text helpers shared by every layer that validates, cuts or repairs text.
//
// Contract: every value the engine stores is valid UTF-8 (the JSON codec
// refuses anything else), so text is only ever cut on a character boundary,
// and text the engine writes on its own behalf (error messages) is repaired
// rather than refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duroxide {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF).
bool valid_utf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not end
// inside a multi-byte sequence.
std::string utf8_prefix(std::string text, std::size_t max_bytes);

// `text` with every malformed byte sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view text);

// Repaired, then cut to at most `max_bytes` on a character boundary: text
// that can always be stored and read back.
std::string bounded_text(std::string_view text, std::size_t max_bytes);

// Empty when `value` is at most `max_bytes` of valid UTF-8 (and, when `required`,
// not empty); else what is wrong, naming `what`: "<what> must not be empty",
// "<what> is N bytes, over the limit of M" or "<what> is not valid UTF-8". The
// one wording of these limits wherever a name, payload or tag is checked.
std::string text_problem(std::string_view value, std::size_t max_bytes, std::string_view what, bool required);

// text_problem, and "<what> holds a NUL byte": for the keys the stores match work by
// (activity tags and session ids, tag filters, worker node ids). PostgreSQL text cannot
// hold U+0000, so a key with one is refused here for every store alike instead of
// failing each fetch on one of them.
std::string key_problem(std::string_view value, std::size_t max_bytes, std::string_view what, bool required);

// `text` as a signed 64-bit decimal ("-" and 1 to 19 digits, nothing else);
// nullopt when it is not one or does not fit. How the page cursors and bulk
// continuations the stores and clients write read their times back: a time may be
// negative or near the int64 limits in an imported or damaged row.
std::optional<std::int64_t> parse_int64(std::string_view text);

}  // namespace duroxide
