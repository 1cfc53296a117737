// Goal: a custom tool's JSON schema is derived from its Python source as Letta derives it: the
// first top-level def names the tool; typed parameters become properties (Optional or defaulted
// ones not required; agent_state hidden); the docstring gives the description and each
// parameter's; malformed or oversized sources are refused with a clear error.
// Method: sources in the shapes Letta's SDK tests and users write, and broken ones.

#include "tools/tools.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace kelpie::tools {
namespace {

namespace json = boost::json;

TEST(PythonTool, SchemaFromSignatureAndDocstring) {
    const char* source = R"(import math

def friendly_func(name: str, times: int = 1, loud: Optional[bool] = None, tags: List[str] = [], agent_state=None) -> str:
    """
    Greets someone politely.

    Args:
        name (str): Who to greet.
        times (int): How many times,
            at most ten.
        tags: Labels.

    Returns:
        str: The greeting.
    """
    return "hi " + name
)";
    Result<ToolDefinition> t = parse_python_tool(source);
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    EXPECT_EQ(t->name, "friendly_func");
    EXPECT_EQ(t->description, "Greets someone politely.");
    json::value schema = json::parse(t->json_schema);
    EXPECT_EQ(schema.at("name").as_string(), "friendly_func");
    const json::object& props = schema.at("parameters").at("properties").as_object();
    EXPECT_EQ(props.size(), 4u);  // agent_state is not the model's
    EXPECT_EQ(props.at("name").at("type").as_string(), "string");
    EXPECT_EQ(props.at("name").at("description").as_string(), "Who to greet.");
    EXPECT_EQ(props.at("times").at("type").as_string(), "integer");
    EXPECT_EQ(props.at("times").at("description").as_string(), "How many times, at most ten.");
    EXPECT_EQ(props.at("loud").at("type").as_string(), "boolean");
    EXPECT_EQ(props.at("tags").at("type").as_string(), "array");
    EXPECT_EQ(props.at("tags").at("items").at("type").as_string(), "string");
    EXPECT_EQ(schema.at("parameters").at("required"), json::parse(R"(["name"])"));
}

TEST(PythonTool, BadSourcesAreRefused) {
    EXPECT_EQ(parse_python_tool("x = 1\n").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(parse_python_tool("def broken(a: str\n").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(parse_python_tool("def (a):\n  pass\n").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(parse_python_tool("def a-b():\n  pass\n").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(parse_python_tool(std::string(tool_source_bytes_max + 1, '#')).code(), ErrorCode::limit_exceeded);
    // A nested def is not the tool: the first top-level one is.
    Result<ToolDefinition> t = parse_python_tool("class X:\n    def inner(self):\n        pass\ndef outer():\n    pass\n");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->name, "outer");
}

}  // namespace
}  // namespace kelpie::tools
