#include "tools/tools.h"

#include <cctype>
#include <map>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace kelpie::tools {

namespace json = boost::json;

namespace {

std::string trim(std::string_view s) {
    size_t b = 0;
    size_t e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) e--;
    return std::string(s.substr(b, e - b));
}

// Splits at commas not inside brackets or quotes.
std::vector<std::string> split_top(std::string_view s) {
    std::vector<std::string> out;
    int depth = 0;
    char quote = 0;
    std::string cur;
    for (char c : s) {
        if (quote != 0) {
            cur += c;
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'') quote = c;
        if (c == '[' || c == '(' || c == '{') depth++;
        if (c == ']' || c == ')' || c == '}') depth--;
        if (c == ',' && depth == 0) {
            out.push_back(trim(cur));
            cur.clear();
            continue;
        }
        cur += c;
    }
    if (!trim(cur).empty()) out.push_back(trim(cur));
    return out;
}

json::object schema_of(std::string type, bool* optional) {
    type = trim(type);
    if (type.starts_with("Optional[") && type.ends_with("]")) {
        *optional = true;
        return schema_of(type.substr(9, type.size() - 10), optional);
    }
    if (type == "str") return json::object{{"type", "string"}};
    if (type == "int") return json::object{{"type", "integer"}};
    if (type == "float") return json::object{{"type", "number"}};
    if (type == "bool") return json::object{{"type", "boolean"}};
    if (type == "list" || type.starts_with("List[") || type.starts_with("list[")) {
        json::object o{{"type", "array"}};
        const size_t open = type.find('[');
        if (open != std::string::npos && type.ends_with("]")) {
            bool ignored = false;
            o["items"] = schema_of(type.substr(open + 1, type.size() - open - 2), &ignored);
        }
        return o;
    }
    if (type == "dict" || type.starts_with("Dict[") || type.starts_with("dict[")) {
        return json::object{{"type", "object"}};
    }
    return json::object{{"type", "string"}};
}

}  // namespace

Result<ToolDefinition> parse_python_tool(std::string_view source) {
    if (source.size() > tool_source_bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     fmt::format("tool source is longer than {} bytes", tool_source_bytes_max));
    }
    // The first top-level def.
    size_t at = 0;
    size_t def = std::string_view::npos;
    while (at < source.size()) {
        if (source.substr(at).starts_with("def ")) {
            def = at;
            break;
        }
        const size_t nl = source.find('\n', at);
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    if (def == std::string_view::npos) {
        return Error(ErrorCode::invalid_argument, "the source has no top-level `def`");
    }
    const size_t open = source.find('(', def);
    if (open == std::string_view::npos) {
        return Error(ErrorCode::invalid_argument, "malformed `def`: no parameter list");
    }
    ToolDefinition out;
    out.name = trim(source.substr(def + 4, open - def - 4));
    if (out.name.empty()) {
        return Error(ErrorCode::invalid_argument, "malformed `def`: no name");
    }
    for (char c : out.name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
            return Error(ErrorCode::invalid_argument, fmt::format("'{}' is not a Python function name", out.name));
        }
    }
    int depth = 0;
    size_t close = std::string_view::npos;
    for (size_t i = open; i < source.size(); i++) {
        if (source[i] == '(') depth++;
        if (source[i] == ')' && --depth == 0) {
            close = i;
            break;
        }
    }
    if (close == std::string_view::npos) {
        return Error(ErrorCode::invalid_argument, "malformed `def`: unclosed parameter list");
    }
    // Docstring: the first triple-quoted string after the signature.
    std::string doc;
    const size_t colon = source.find(':', close);
    if (colon != std::string_view::npos) {
        size_t q = source.find_first_not_of(" \t\r\n", colon + 1);
        for (const char* quotes : {"\"\"\"", "'''"}) {
            if (q != std::string_view::npos && source.substr(q).starts_with(quotes)) {
                const size_t end = source.find(quotes, q + 3);
                if (end != std::string_view::npos) {
                    doc = std::string(source.substr(q + 3, end - q - 3));
                }
            }
        }
    }
    // Description: the docstring up to its first section; Args: entries per parameter.
    std::map<std::string, std::string> arg_docs;
    std::string description;
    {
        std::string section;
        std::string current_arg;
        size_t pos = 0;
        while (pos <= doc.size()) {
            const size_t nl = doc.find('\n', pos);
            const std::string line = std::string(doc.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
            const std::string t = trim(line);
            if (t == "Args:" || t == "Arguments:" || t == "Parameters:") {
                section = "args";
            } else if (t == "Returns:" || t == "Raises:" || t == "Yields:" || t == "Example:" || t == "Examples:") {
                section = "other";
            } else if (section.empty()) {
                if (!t.empty()) description += (description.empty() ? "" : " ") + t;
            } else if (section == "args" && !t.empty()) {
                const size_t c = t.find(':');
                const std::string head = c == std::string::npos ? "" : trim(t.substr(0, c));
                const std::string name = trim(head.substr(0, head.find(' ')));
                bool is_name = !name.empty();
                for (char ch : name) {
                    is_name = is_name && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
                }
                if (is_name && c != std::string::npos) {
                    current_arg = name;
                    arg_docs[current_arg] = trim(t.substr(c + 1));
                } else if (!current_arg.empty()) {
                    arg_docs[current_arg] += " " + t;
                }
            }
            if (nl == std::string::npos) break;
            pos = nl + 1;
        }
    }
    out.description = description;
    json::object properties;
    json::array required;
    for (const std::string& param : split_top(source.substr(open + 1, close - open - 1))) {
        if (param.empty() || param.starts_with("*")) continue;
        const size_t eq = param.find('=');
        const std::string lhs = trim(param.substr(0, eq));
        const bool has_default = eq != std::string::npos;
        const size_t c = lhs.find(':');
        const std::string name = trim(lhs.substr(0, c));
        if (name == "self" || name == "agent_state") continue;
        bool optional = has_default;
        json::object p = schema_of(c == std::string::npos ? "str" : lhs.substr(c + 1), &optional);
        if (auto d = arg_docs.find(name); d != arg_docs.end()) {
            p["description"] = d->second;
        }
        properties[name] = std::move(p);
        if (!optional) required.push_back(json::string(name));
    }
    json::object parameters{{"type", "object"}};
    parameters["properties"] = std::move(properties);
    parameters["required"] = std::move(required);
    json::object schema{{"name", out.name}, {"description", out.description}};
    schema["parameters"] = std::move(parameters);
    out.json_schema = json::serialize(schema);
    return out;
}

}  // namespace kelpie::tools
