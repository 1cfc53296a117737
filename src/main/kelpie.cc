// kelpie: the one binary. `kelpie serve` runs a node; `kelpie sim` runs the simulator.

#include <charconv>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "base/version.h"
#include "main/commands.h"
#include "sim/harness.h"

namespace {

// Parses "A..B" (inclusive) or "N".
bool parse_seed_range(const std::string& text, uint64_t* first, uint64_t* last) {
    const auto parse = [](std::string_view s, uint64_t* out) {
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
        return !s.empty() && ec == std::errc() && end == s.data() + s.size();
    };
    const size_t dots = text.find("..");
    if (dots == std::string::npos) {
        return parse(text, first) && (*last = *first, true);
    }
    return parse(std::string_view(text).substr(0, dots), first) &&
           parse(std::string_view(text).substr(dots + 2), last) && *first <= *last;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Kelpie: a distributed virtual-actor runtime for AI agents"};
    app.set_version_flag("--version", std::string("kelpie ") + kelpie::version_string);
    app.require_subcommand(1);

    kelpie::cli::ServeOptions serve;
    CLI::App* serve_cmd = app.add_subcommand("serve", "Run a Kelpie node (HTTP API)");
    serve_cmd->add_option("--host", serve.host, "Address to listen on")
        ->envname("KELPIE_HOST")
        ->capture_default_str();
    serve_cmd->add_option("--port", serve.port, "Port to listen on (0: any free port)")
        ->envname("KELPIE_PORT")
        ->capture_default_str();
    serve_cmd->add_option("--data-dir", serve.data_dir, "Where the node keeps its data")
        ->envname("KELPIE_DATA_DIR")
        ->capture_default_str();
    serve_cmd
        ->add_option("--store", serve.store,
                     "rocksdb (embedded, in the data dir), memory, or etcd://host:port,...")
        ->envname("KELPIE_STORE")
        ->capture_default_str();
    serve_cmd
        ->add_option("--node-id", serve.node_id,
                     "This node's id in the registry (default: 'local' on an embedded store, a "
                     "random one on etcd); unique among live nodes")
        ->envname("KELPIE_NODE_ID");
    serve_cmd
        ->add_option("--openai-base-url", serve.openai_base_url,
                     "OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama): the URL before "
                     "/chat/completions, e.g. http://127.0.0.1:11434/v1 (default https://api.openai.com/v1)")
        ->envname("OPENAI_BASE_URL");
    serve_cmd->add_option("--openai-api-key", serve.openai_api_key, "Key for the OpenAI-compatible endpoint")
        ->envname("OPENAI_API_KEY");
    serve_cmd
        ->add_option("--anthropic-base-url", serve.anthropic_base_url,
                     "Anthropic endpoint: the URL before /v1/messages")
        ->envname("ANTHROPIC_BASE_URL");
    serve_cmd->add_option("--anthropic-api-key", serve.anthropic_api_key, "Key for Anthropic")
        ->envname("ANTHROPIC_API_KEY");
    serve_cmd
        ->add_option("--tls-ca-file", serve.tls_ca_file,
                     "PEM file of CA certificates to trust for https model endpoints, besides the "
                     "system's (SSL_CERT_FILE and SSL_CERT_DIR are honoured too)")
        ->envname("KELPIE_TLS_CA_FILE");
    serve_cmd
        ->add_option("--default-model", serve.default_model,
                     "Model handle for agents created without one (and for letta/auto)")
        ->envname("KELPIE_DEFAULT_MODEL")
        ->capture_default_str();

    kelpie::cli::SimOptions sim;
    std::string seed_text = "1";
    std::string seeds_text;
    std::string duration_text = "60s";
    CLI::App* sim_cmd = app.add_subcommand("sim", "Run the deterministic simulator over seeds");
    auto* seed_opt = sim_cmd->add_option("--seed", seed_text, "One seed")->capture_default_str();
    sim_cmd->add_option("--seeds", seeds_text, "A range of seeds, A..B (inclusive)")
        ->excludes(seed_opt);
    sim_cmd->add_option("--nodes", sim.nodes, "Simulated nodes")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    sim_cmd->add_option("--duration", duration_text, "Virtual time per seed (e.g. 60s, 5m)")
        ->capture_default_str();
    sim_cmd->add_flag("--canary", sim.canary,
                      "Break the workload on purpose: every seed must report a violation");
    sim_cmd->add_flag("--verbose", sim.verbose, "Print per-seed statistics");
    sim_cmd->add_option("--bug", sim.bug,
                        "Re-introduce a known bug class (see --list-bugs): seeds must fail");
    bool list_bugs = false;
    sim_cmd->add_flag("--list-bugs", list_bugs, "List the bug switches and exit");
    std::string faults_text = "all";
    sim_cmd->add_option("--faults", faults_text,
                        "Fault kinds the seeds may inject: all, none, or a comma-separated list "
                        "(see --list-faults)")
        ->capture_default_str();
    bool list_faults = false;
    sim_cmd->add_flag("--list-faults", list_faults, "List the fault kinds and exit");

    CLI11_PARSE(app, argc, argv);

    if (serve_cmd->parsed()) {
        return kelpie::cli::run_serve(serve);
    }
    if (list_bugs) {
        for (const auto& [name, what] : kelpie::sim::bug_names()) {
            std::printf("%-26s %s\n", name.c_str(), what.c_str());
        }
        return 0;
    }
    if (list_faults) {
        for (const auto& [name, what] : kelpie::sim::fault_kinds()) {
            std::printf("%-22s %s\n", name.c_str(), what.c_str());
        }
        return 0;
    }
    if (faults_text == "all") {
        sim.faults = kelpie::sim::all_fault_kinds();
    } else if (faults_text != "none") {
        const std::set<std::string> known = kelpie::sim::all_fault_kinds();
        size_t start = 0;
        while (start <= faults_text.size()) {
            size_t comma = faults_text.find(',', start);
            if (comma == std::string::npos) {
                comma = faults_text.size();
            }
            const std::string kind = faults_text.substr(start, comma - start);
            if (!known.contains(kind)) {
                std::fprintf(stderr, "kelpie sim: bad --faults entry '%s': see kelpie sim "
                                     "--list-faults\n", kind.c_str());
                return 2;
            }
            sim.faults.insert(kind);
            start = comma + 1;
        }
    }
    if (!sim.bug.empty()) {
        bool known = false;
        for (const auto& [name, what] : kelpie::sim::bug_names()) {
            known = known || name == sim.bug;
        }
        if (!known) {
            std::fprintf(stderr, "kelpie sim: bad --bug '%s': see kelpie sim --list-bugs\n",
                         sim.bug.c_str());
            return 2;
        }
    }
    const std::string& range = seeds_text.empty() ? seed_text : seeds_text;
    if (!parse_seed_range(range, &sim.seed_first, &sim.seed_last)) {
        std::fprintf(stderr, "kelpie sim: bad seed '%s': want N or A..B with A <= B\n",
                     range.c_str());
        return 2;
    }
    if (!kelpie::parse_duration(duration_text, &sim.duration) ||
        sim.duration <= kelpie::Duration::zero()) {
        std::fprintf(stderr, "kelpie sim: bad duration '%s': want e.g. 300s, 5m, 1500ms\n",
                     duration_text.c_str());
        return 2;
    }
    return kelpie::cli::run_sim(sim);
}
