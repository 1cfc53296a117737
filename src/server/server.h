#pragma once

// The Kelpie API server: the Letta-compatible REST API (with SSE streaming) over HttpServer.
// Routing, query strings, JSON bodies, status codes and the SSE framing live here; the data model
// and the agent loop live in agent/ (AgentService).
//
// Conventions (research: letta-api.md §1, §10):
//   - every path is accepted with and without a trailing slash, with and without /v1 for health;
//   - errors are {"detail": "..."}: 422 for a malformed body, id or query (bad JSON, wrong types,
//     invalid UTF-8), 404 for an unknown id, 409 when the agent waits for an approval, 413 for an
//     oversized body, 503 when the store or runtime is unavailable; 409 and 5xx answers to POSTs
//     carry `x-should-retry: false` (the Letta SDK would otherwise resend a non-idempotent call);
//   - lists are bare JSON arrays; `after`/`before`/`limit`/`order` as Letta defines them;
//   - SSE: `data: <json>\n\n` per message, then stop_reason, usage_statistics and `data: [DONE]`;
//     a failure after the stream started ends with stop_reason, `event: error` + error_message,
//     `[DONE]`; with include_pings, a ping when nothing was sent for sse_ping_interval; every
//     event carries a seq_id; a background=true run's stream is recorded on its node, and
//     POST /v1/runs/{id}/stream {starting_after} (or /v1/conversations/{id}/stream {otid?})
//     follows it again from there (a dropped client resumes), while it runs and for the last
//     agent::recorded_runs_max finished;
//   - `Idempotency-Key` on every request that changes something (creations, changes, deletes,
//     attach/detach, message sends sync and async, resets): the same key takes effect once and
//     gives the same answer, across restarts — through the agent's durable invocation journal,
//     an id derived from the key, or (standalone blocks, tools) the answer stored with the change.
//     Cancelling runs and add-base-tools change nothing a retry could repeat.
//
//   GET /v1/health, /health       200 {"status":"ok","version":"<kelpie version>","store":"<backend>"}

#include <memory>

#include "agent/agent.h"
#include "io/executor.h"
#include "io/network.h"
#include "server/http.h"
#include "store/store.h"

namespace kelpie::server {

// With include_pings, a ping goes out when a stream has been silent this long.
inline constexpr Duration sse_ping_interval = Duration::s(15);

class Server {
public:
    // `store` and `agents` must outlive the server; `agents` null serves health only.
    Server(io::Executor& executor, io::Network& network, store::Store& store,
           agent::AgentService* agents = nullptr);

    // Starts listening; returns the bound address.
    Result<io::Address> start(const io::Address& address);
    // Graceful stop (see HttpServer::stop).
    io::Task<void> stop();

    // Routes one request.
    io::Task<HttpResponse> handle(HttpRequest request);

private:
    io::Executor& executor_;
    store::Store& store_;
    agent::AgentService* agents_;
    HttpServer http_;
};

}  // namespace kelpie::server
