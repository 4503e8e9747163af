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
