#pragma once

// Tools (DESIGN §8): what a tool is, as the model sees it. So far: the JSON schema of a custom
// Python tool, derived from its source as Letta derives it — the first top-level `def`, its typed
// parameters and its Google-style docstring. Running custom tools (bubblewrap + seccomp) and MCP
// servers are not built yet.

#include <string>

#include "base/result.h"

namespace kelpie::tools {

inline constexpr size_t tool_source_bytes_max = 256 * 1024;

struct ToolDefinition {
    std::string name;
    std::string description;
    // {"name","description","parameters":{"type":"object","properties":{...},"required":[...]}}
    std::string json_schema;
};

// Parses `def name(a: str, b: int = 3) -> str:` with its docstring ("Args:" entries describe the
// parameters). Types: str, int, float, bool, list/List[...], dict/Dict[...], Optional[X] (not
// required), anything else a string. A parameter named `agent_state` or `self` is not shown to the
// model. invalid_argument when there is no function or the source is malformed.
Result<ToolDefinition> parse_python_tool(std::string_view source);

}  // namespace kelpie::tools
