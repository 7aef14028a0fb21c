#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "report/json_writer.h"
#include "util/error.h"

using shootout::report::JsonWriter;
using shootout::report::json_escape;

TEST(JsonWriter, EscapesStrings) {
    EXPECT_EQ(json_escape("plain"), "\"plain\"");
    EXPECT_EQ(json_escape("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_escape("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
    EXPECT_EQ(json_escape(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
    EXPECT_EQ(json_escape("Δp é"), "\"Δp é\"");  // UTF-8 passes through
}

TEST(JsonWriter, WritesNestedPrettyDocuments) {
    JsonWriter j;
    j.begin_object();
    j.field("n", int64_t(3)).field("x", 0.1).field("ok", true);
    j.key("nan").value(std::numeric_limits<double>::quiet_NaN());
    j.key("list").begin_array().value(1).value("two").begin_object().end_object().end_array();
    j.key("empty").begin_array().end_array();
    j.end_object();
    EXPECT_EQ(j.str(),
              "{\n"
              "  \"n\": 3,\n"
              "  \"x\": 0.1,\n"
              "  \"ok\": true,\n"
              "  \"nan\": null,\n"
              "  \"list\": [\n"
              "    1,\n"
              "    \"two\",\n"
              "    {}\n"
              "  ],\n"
              "  \"empty\": []\n"
              "}\n");
}

TEST(JsonWriter, DoublesRoundTrip) {
    JsonWriter j;
    j.begin_array().value(1.0 / 3.0).value(1e-300).value(-2.5).end_array();
    EXPECT_NE(j.str().find("0.3333333333333333"), std::string::npos) << j.str();
    EXPECT_NE(j.str().find("1e-300"), std::string::npos) << j.str();
}

TEST(JsonWriter, RejectsUnbalancedUse) {
    JsonWriter open;
    open.begin_object();
    EXPECT_THROW(open.str(), shootout::Error);
    JsonWriter no_key;
    no_key.begin_object();
    EXPECT_THROW(no_key.value(1), shootout::Error);
    JsonWriter wrong_end;
    wrong_end.begin_array();
    EXPECT_THROW(wrong_end.end_object(), shootout::Error);
}
