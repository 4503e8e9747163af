#include "duroxide/detail/flat_object.hpp"

#include <cstdint>

#include "duroxide/limits.hpp"

namespace duroxide::detail {

namespace {

// A cursor over the text; every read_* answers false to hand the text to parse_json.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool at_end() const { return position_ == text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[position_]; }
  bool take(char c) {
    if (peek() != c || at_end()) return false;
    ++position_;
    return true;
  }
  // JSON's four whitespace bytes, as nlohmann's lexer skips them.
  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++position_;
  }
  // A value ends at whitespace, a comma or the closing brace.
  bool at_delimiter() const {
    const char c = peek();
    return at_end() || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '}';
  }

  // A run of plain characters is appended whole, not byte by byte (long payloads:
  // docs/bench.md, "Strings copied by runs").
  bool read_string(std::string& out) {
    if (!take('"')) return false;
    while (!at_end()) {
      std::size_t end = position_;
      while (end < text_.size() && plain(text_[end])) ++end;
      out.append(text_.data() + position_, end - position_);
      position_ = end;
      if (at_end()) return false;
      const char c = text_[position_++];
      if (c == '"') return true;
      if (c != '\\') return false;  // a control byte, or one outside printable ASCII
      if (at_end()) return false;
      const char escaped = unescaped(text_[position_++]);
      if (escaped == '\0') return false;
      out += escaped;
    }
    return false;
  }

  bool read_value(Json& out) {
    const char c = peek();
    if (c == '"') {
      std::string text;
      if (!read_string(text)) return false;
      out = std::move(text);
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return read_integer(out);
    if (read_word("true")) out = true;
    else if (read_word("false")) out = false;
    else if (read_word("null")) out = nullptr;
    else return false;
    return at_delimiter();
  }

 private:
  // Printable ASCII but the quote and the backslash: copied as it is.
  static bool plain(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte <= 0x7e && c != '"' && c != '\\';
  }

  static char unescaped(char c) {
    switch (c) {
      case '"': return '"';
      case '\\': return '\\';
      case '/': return '/';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      default: return '\0';  // \u and anything else: parse_json's path
    }
  }

  bool read_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  // -?(0|[1-9][0-9]{0,17}) followed by a delimiter: fits an int64 whatever the digits.
  // nlohmann reads a non-negative integer as unsigned and a negative one as signed.
  bool read_integer(Json& out) {
    const bool negative = take('-');
    const std::size_t first = position_;
    std::uint64_t value = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      value = value * 10 + static_cast<std::uint64_t>(peek() - '0');
      ++position_;
    }
    const std::size_t digits = position_ - first;
    if (digits == 0 || digits > 18 || (digits > 1 && text_[first] == '0') || !at_delimiter()) return false;
    if (negative) {
      out = -static_cast<std::int64_t>(value);
    } else {
      out = value;
    }
    return true;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

}  // namespace

const Json* FlatObject::find(std::string_view key) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

bool read_flat_object(std::string_view text, FlatObject& out) {
  if (text.size() > limits::kMaxJsonDocumentBytes) return false;
  out.fields.clear();
  out.fields.reserve(16);  // the most fields a stored event or work item has, so one allocation
  Cursor in(text);
  in.skip_whitespace();
  if (!in.take('{')) return false;
  in.skip_whitespace();
  if (!in.take('}')) {
    do {
      in.skip_whitespace();
      std::string key;
      if (!in.read_string(key)) return false;
      in.skip_whitespace();
      if (!in.take(':')) return false;
      in.skip_whitespace();
      Json value;
      if (!in.read_value(value)) return false;
      out.fields.emplace_back(std::move(key), std::move(value));
      in.skip_whitespace();
    } while (in.take(','));
    if (!in.take('}')) return false;
  }
  in.skip_whitespace();
  return in.at_end();
}

}  // namespace duroxide::detail
