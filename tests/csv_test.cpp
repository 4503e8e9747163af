// CSV export: RFC 4180 quoting and tables from JSON rows.
#include <catch2/catch.hpp>

#include "duroxide/csv.hpp"

using namespace duroxide;

TEST_CASE("CSV fields are quoted only when they must be", "[csv]") {
  CHECK(csv::field("plain") == "plain");
  CHECK(csv::field("") == "");
  CHECK(csv::field("a,b") == "\"a,b\"");
  CHECK(csv::field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv::field("two\nlines") == "\"two\nlines\"");
  CHECK(csv::field("cr\rhere") == "\"cr\rhere\"");
  CHECK(csv::row({"a", "b,c", ""}) == "a,\"b,c\",\r\n");
}

TEST_CASE("CSV tables take columns from JSON rows", "[csv]") {
  const nlohmann::json rows = nlohmann::json::parse(
      R"([{"id":"i1","n":3,"ok":true,"note":"x, \"y\""},{"id":"i2","n":null,"nested":{"a":1}}])");
  CHECK(csv::table(rows, {"id", "n", "ok", "note", "nested"}) ==
        "id,n,ok,note,nested\r\n"
        "i1,3,true,\"x, \"\"y\"\"\",\r\n"
        "i2,,,,\"{\"\"a\"\":1}\"\r\n");
  CHECK(csv::table(nlohmann::json::object(), {"a"}) == "a\r\n");
}

TEST_CASE("CSV cells that a spreadsheet would run as a formula are written as text", "[csv]") {
  CHECK(csv::field("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  CHECK(csv::field("+1+cmd|' /C calc'!A0") == "'+1+cmd|' /C calc'!A0");
  CHECK(csv::field("-2+3") == "'-2+3");
  CHECK(csv::field("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv::field("\tdata") == "'\tdata");
  CHECK(csv::field("a=b") == "a=b");
  // Numbers stay numbers.
  CHECK(csv::field("-5") == "-5");
  CHECK(csv::field("-1.5e3") == "-1.5e3");
  const nlohmann::json rows = nlohmann::json::parse(R"([{"n":-7,"s":"=1+1"}])");
  CHECK(csv::table(rows, {"n", "s"}) == "n,s\r\n-7,'=1+1\r\n");
}
