// Scripted fake LLM: OpenAI Chat Completions, Anthropic Messages and OpenAI embeddings on loopback.
//
// Goal: give Kelpie's tests (C++ LLM clients, the Node compat suite, crash tests) an LLM whose
// every answer is chosen by the test or by a fixed rule and carries the wire shapes of the real
// APIs (research: letta-api.md §9), so that no test needs a network or a model.
// Method: one dependency-free node:http server. Tests script replies through /__fake/* (README.md);
// with an empty queue the default rules in default_plan() answer. Invariants:
//   (1) A response is a function of the request, the queue and counters zeroed by /__fake/reset,
//       so two runs of a test see byte-identical responses.
//   (2) A queued reply is taken when its request arrives, so replies follow arrival order even
//       when a delay or hold makes the answers leave in another order.
//   (3) No input, however malformed, and no client disconnect may crash the process.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const created_s = 1700000000; // Fixed, like the ids and usage, for invariant (1).
const body_bytes_max = 16 * 1024 * 1024; // Far above any test prompt; bounds memory.
const embedding_dimensions_default = 8;
const embedding_dimensions_max = 4096;
const prompt_tokens = 100;
const completion_tokens = 10;
const anthropic_error_types = {
    400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
    404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
    529: 'overloaded_error',
};

function fresh_state() {
    const ids = { 'chatcmpl-': 0, call_: 0, msg_: 0, toolu_: 0 };
    return { queue: [], requests: [], holds: [], ids };
}

// Ids are `<prefix><n>` from per-prefix counters: the first tool call after a reset is call_1.
function next_id(state, prefix) {
    return `${prefix}${++state.ids[prefix]}`;
}

// Splits at a code-point boundary, so streamed text and arguments always arrive in at least two
// deltas (exercising accumulation) and no delta holds half a surrogate pair, which a UTF-8
// client could not decode.
function split_two(s) {
    const points = Array.from(s);
    const half = Math.floor(points.length / 2);
    return points.length < 2 ? [s] : [points.slice(0, half).join(''), points.slice(half).join('')];
}

// Arguments given as a string go out verbatim, which lets a test send invalid argument JSON.
function args_json(args) {
    return typeof args === 'string' ? args : JSON.stringify(args);
}

// Error bodies as each provider shapes them. Embeddings and unknown paths use OpenAI's shape.
function error_body(provider, status, message) {
    if (provider === 'anthropic') {
        const type = anthropic_error_types[status] ??
            (status >= 500 ? 'api_error' : 'invalid_request_error');
        return { type: 'error', error: { type, message } };
    }
    const type = status >= 500 ? 'server_error'
        : status === 429 ? 'requests' : 'invalid_request_error';
    const code = status === 429 ? 'rate_limit_exceeded' : null;
    return { error: { message, type, param: null, code } };
}

function is_object(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function send_json(res, status, value, headers = {}) {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof value === 'string' ? value : JSON.stringify(value));
}

// ---- What the conversation asks for ----

// The last text part, not all parts joined: letta-code sends system reminders before the prompt.
function last_text(content) {
    if (typeof content === 'string') return content;
    const part = Array.isArray(content) ? content.findLast((p) => p?.type === 'text') : undefined;
    return typeof part?.text === 'string' ? part.text : '';
}

// A tool result is a `tool` message (OpenAI), or a `tool_result` block in a user turn (Anthropic).
function conversation_view(provider, body) {
    const last = body.messages.at(-1);
    const tool_result = provider === 'openai' ? last?.role === 'tool'
        : last?.role === 'user' && Array.isArray(last.content) &&
          last.content.some((b) => b?.type === 'tool_result');
    const user = body.messages.findLast((m) => m?.role === 'user');
    const tools = Array.isArray(body.tools) ? body.tools : [];
    const tool_names = tools.map((t) => (provider === 'openai' ? t?.function?.name : t?.name));
    return { tool_result, user_text: last_text(user?.content), tool_names };
}

function default_plan(view) {
    if (view.tool_result) return { kind: 'text', text: 'DONE' };
    // `\b` keeps words such as RECALL from matching; the JSON runs to the last `}` in the text.
    const directive = /\bCALL\s+([A-Za-z_][\w.-]*)(?:\s+(\{[\s\S]*\}))?/.exec(view.user_text);
    if (directive) {
        try {
            const args = JSON.parse(directive[2] ?? '{}');
            return { kind: 'tools', calls: [{ name: directive[1], args }] };
        } catch {
            // Invalid JSON: not a directive, so ECHO shows the test what it sent.
        }
    }
    const echo = `ECHO: ${view.user_text}`;
    if (!view.tool_names.includes('send_message')) return { kind: 'text', text: echo };
    return { kind: 'tools', calls: [{ name: 'send_message', args: { message: echo } }] };
}

// A queued item (checked by invalid_item) becomes a plan; modifiers alone keep the default answer.
function plan_for(item, view) {
    let plan = default_plan(view);
    const one_call = item.tool === undefined ? null : [{ name: item.tool, args: item.args }];
    const calls = (item.tools ?? one_call)?.map((c) => ({ name: c.name, args: c.args ?? {} }));
    if (item.http !== undefined) plan = { kind: 'http', status: item.http, body: item.body };
    else if (item.sse_error) plan = { kind: 'sse_error', inner: plan };
    else if (item.malformed) plan = { kind: 'malformed' };
    else if (typeof item.text === 'string') plan = { kind: 'text', text: item.text };
    else if (calls) plan = { kind: 'tools', calls };
    return { ...plan, truncated: item.finish === 'length', retry_after: item.retry_after };
}

// Returns why a queued item is not a reply form this fake understands, or null if it is.
function invalid_item(item) {
    const int = (v, lo, hi) => v === undefined || (Number.isInteger(v) && v >= lo && v <= hi);
    const string = (v) => v === undefined || typeof v === 'string';
    const calls = (v) => v === undefined ||
        (Array.isArray(v) && v.length > 0 && v.every((c) => typeof c?.name === 'string'));
    if (!is_object(item)) return 'reply must be an object';
    if (!int(item.http, 200, 599)) return 'http must be a status 200..599';
    if (!string(item.tool) || !calls(item.tools)) return 'tool: a name; tools: [{name, args}]';
    if (!int(item.delay_ms, 0, 600000)) return 'delay_ms must be 0..600000';
    if (!string(item.hold)) return 'hold must be a string';
    if (![undefined, 'length'].includes(item.finish)) return 'finish must be "length"';
    return null;
}

// ---- OpenAI Chat Completions ----

function openai_finish(plan) {
    return plan.truncated ? 'length' : plan.kind === 'tools' ? 'tool_calls' : 'stop';
}

function openai_usage() {
    return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

function openai_completion(state, body, plan) {
    const id = next_id(state, 'chatcmpl-');
    const content = plan.kind === 'text' ? plan.text : null;
    const message = { role: 'assistant', content, refusal: null };
    if (plan.kind === 'tools') {
        message.tool_calls = plan.calls.map((c) => ({ id: next_id(state, 'call_'), type: 'function',
            function: { name: c.name, arguments: args_json(c.args) } }));
    }
    const choice = { index: 0, message, logprobs: null, finish_reason: openai_finish(plan) };
    return { id, object: 'chat.completion', created: created_s, model: body.model ?? 'gpt-4o-mini',
        choices: [choice], usage: openai_usage() };
}

// The chunks of a stream, before `[DONE]`. With stream_options.include_usage the real API puts
// `"usage": null` on every chunk and the numbers on one extra last chunk with empty `choices`.
function openai_chunks(state, body, plan) {
    const include_usage = body.stream_options?.include_usage === true;
    const base = { id: next_id(state, 'chatcmpl-'), object: 'chat.completion.chunk',
        created: created_s, model: body.model ?? 'gpt-4o-mini' };
    const chunk = (delta, finish_reason = null) => ({ ...base,
        choices: [{ index: 0, delta, logprobs: null, finish_reason }],
        ...(include_usage ? { usage: null } : {}) });
    const chunks = [chunk({ role: 'assistant', content: plan.kind === 'text' ? '' : null })];
    if (plan.kind === 'text') {
        for (const piece of split_two(plan.text)) chunks.push(chunk({ content: piece }));
    }
    // Calls stream one after another under distinct `index` values. Only the first delta of an
    // index carries `id`, `type` and `name`; later ones carry argument pieces to concatenate.
    (plan.calls ?? []).forEach((c, index) => {
        const id = next_id(state, 'call_');
        const function_ = { name: c.name, arguments: '' };
        chunks.push(chunk({ tool_calls: [{ index, id, type: 'function', function: function_ }] }));
        for (const piece of split_two(args_json(c.args))) {
            chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
        }
    });
    chunks.push(chunk({}, openai_finish(plan)));
    if (include_usage) chunks.push({ ...base, choices: [], usage: openai_usage() });
    return chunks;
}

// OpenAI streams are unnamed `data:` events, each followed by a blank line, then `data: [DONE]`.
function openai_stream(res, state, body, plan) {
    const data = (payload) => res.write(`data: ${payload}\n\n`);
    if (plan.kind === 'malformed') {
        data(JSON.stringify(openai_chunks(state, body, { kind: 'text', text: '' })[0]));
        data('{"id":"chatcmpl-broken","choices":[{');
        data('[DONE]');
    } else if (plan.kind === 'sse_error') {
        // A mid-stream failure is a data event holding `error`; the stream ends without [DONE].
        for (const c of openai_chunks(state, body, plan.inner).slice(0, 2)) data(JSON.stringify(c));
        data(JSON.stringify(error_body('openai', 500, 'fake-llm: scripted mid-stream error')));
    } else {
        for (const c of openai_chunks(state, body, plan)) data(JSON.stringify(c));
        data('[DONE]');
    }
    res.end();
}

// ---- Anthropic Messages ----

function anthropic_stop(plan) {
    return plan.truncated ? 'max_tokens' : plan.kind === 'tools' ? 'tool_use' : 'end_turn';
}

function anthropic_blocks(state, plan) {
    if (plan.kind === 'text') return [{ type: 'text', text: plan.text }];
    return plan.calls.map((c) => ({ type: 'tool_use', id: next_id(state, 'toolu_'), name: c.name,
        input: c.args }));
}

// The whole message, or (stream_start) the empty one that message_start carries.
function anthropic_message(state, body, plan, stream_start = false) {
    const id = next_id(state, 'msg_');
    const output_tokens = stream_start ? 1 : completion_tokens;
    const usage = { input_tokens: prompt_tokens, output_tokens,
        cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return { id, type: 'message', role: 'assistant', model: body.model ?? 'claude-sonnet-4-5',
        content: stream_start ? [] : anthropic_blocks(state, plan),
        stop_reason: stream_start ? null : anthropic_stop(plan), stop_sequence: null, usage };
}

// [event name, data] pairs. A block opens empty (tool_use with `input: {}`), is filled by deltas
// (text_delta, or input_json_delta whose partial_json pieces concatenate to the input's JSON) and
// closes with content_block_stop. The real API sends a `ping` early, which clients must skip.
function anthropic_events(state, body, plan) {
    const message = anthropic_message(state, body, plan, true);
    const events = [['message_start', { message }], ['ping', {}]];
    anthropic_blocks(state, plan).forEach((block, index) => {
        const text = block.type === 'text';
        const content_block = text ? { type: 'text', text: '' } : { ...block, input: {} };
        events.push(['content_block_start', { index, content_block }]);
        for (const piece of split_two(text ? block.text : args_json(block.input))) {
            const delta = text ? { type: 'text_delta', text: piece }
                : { type: 'input_json_delta', partial_json: piece };
            events.push(['content_block_delta', { index, delta }]);
        }
        events.push(['content_block_stop', { index }]);
    });
    const delta = { stop_reason: anthropic_stop(plan), stop_sequence: null };
    events.push(['message_delta', { delta, usage: { output_tokens: completion_tokens } }]);
    events.push(['message_stop', {}]);
    // The data repeats the event name as `type`, first, as the real API does.
    return events.map(([name, data]) => [name, { type: name, ...data }]);
}

// Anthropic streams are named events. There is no [DONE]: the stream ends after message_stop.
function anthropic_stream(res, state, body, plan) {
    const event = (name, data) => res.write(`event: ${name}\ndata: ${data}\n\n`);
    const send_all = (events) => events.forEach(([name, d]) => event(name, JSON.stringify(d)));
    if (plan.kind === 'malformed') {
        send_all(anthropic_events(state, body, { kind: 'text', text: '' }).slice(0, 1));
        event('content_block_start', '{"type":"content_block_start",');
    } else if (plan.kind === 'sse_error') {
        send_all(anthropic_events(state, body, plan.inner).slice(0, 4));
        const error = error_body('anthropic', 529, 'fake-llm: scripted mid-stream error');
        event('error', JSON.stringify(error));
    } else {
        send_all(anthropic_events(state, body, plan));
    }
    res.end();
}

// ---- Embeddings: never scripted, a pure function of (input, dimensions) ----

function embedding_vector(text, dimensions) {
    const values = [];
    for (let block = 0; values.length < dimensions; block += 1) {
        const digest = createHash('sha256').update(`${block}:${text}`).digest();
        for (let i = 0; i < digest.length && values.length < dimensions; i += 4) {
            values.push(digest.readUInt32LE(i) / 2 ** 31 - 1);
        }
    }
    const norm = Math.hypot(...values) || 1;
    // Rounded to float32, so the float and base64 encodings carry exactly the same numbers.
    return values.map((v) => Math.fround(v / norm));
}

// The little-endian float32 bytes in base64: what the openai SDK asks for unless told otherwise.
function float32_base64(vector) {
    const bytes = Buffer.alloc(4 * vector.length);
    vector.forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
    return bytes.toString('base64');
}

function embeddings_response(body) {
    // The API also takes token arrays (number[] or number[][]); they hash as their JSON text.
    const inputs = typeof body.input === 'string' || typeof body.input[0] === 'number'
        ? [body.input] : body.input;
    const dimensions = body.dimensions ?? embedding_dimensions_default;
    const data = inputs.map((input, index) => {
        const text = typeof input === 'string' ? input : JSON.stringify(input);
        const vector = embedding_vector(text, dimensions);
        const embedding = body.encoding_format === 'base64' ? float32_base64(vector) : vector;
        return { object: 'embedding', index, embedding };
    });
    const tokens = 8 * inputs.length;
    return { object: 'list', data, model: body.model ?? 'text-embedding-3-small',
        usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

// ---- Request handling ----

const llm_routes = {
    '/v1/chat/completions': 'openai', '/v1/messages': 'anthropic', '/v1/embeddings': 'embeddings',
};
const recorded_headers = ['host', 'authorization', 'x-api-key', 'anthropic-version', 'content-type'];
const models = ['gpt-4o-mini', 'text-embedding-3-small']
    .map((id) => ({ id, object: 'model', created: created_s, owned_by: 'fake-llm' }));

// Resolves to the body text, or null if it exceeds body_bytes_max (the rest is drained unread).
function read_body(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', (c) => {
            size += c.length;
            if (size <= body_bytes_max) chunks.push(c);
        });
        req.on('end', () => resolve(size > body_bytes_max ? null : String(Buffer.concat(chunks))));
        req.on('error', reject);
    });
}

function parse_json(text) {
    try { return { ok: true, value: JSON.parse(text) }; } catch { return { ok: false }; }
}

function invalid_request(provider, body) {
    const { input, dimensions: d } = body ?? {};
    if (!is_object(body)) return 'body must be an object';
    if (provider !== 'embeddings') return Array.isArray(body.messages) ? null : 'no messages array';
    const input_ok = typeof input === 'string' || (Array.isArray(input) && input.length > 0);
    if (!input_ok) return 'input must be a string or a non-empty array';
    const d_ok = d === undefined || (Number.isInteger(d) && d > 0 && d <= embedding_dimensions_max);
    return d_ok ? null : `dimensions must be 1..${embedding_dimensions_max}`;
}

// Resolves true when released, false if the client went away first (the request is then dropped).
function wait_for_release(state, name, res) {
    return new Promise((resolve) => {
        const hold = { name, res, resolve };
        state.holds.push(hold);
        res.on('close', () => {
            const i = state.holds.indexOf(hold);
            if (i >= 0) { state.holds.splice(i, 1); resolve(false); }
        });
    });
}

async function handle_llm(ctx, req, res, provider, text) {
    const state = ctx.state;
    const parsed = parse_json(text);
    const headers = Object.fromEntries(recorded_headers.filter((h) => h in req.headers)
        .map((h) => [h, req.headers[h]]));
    state.requests.push({ seq: state.requests.length + 1, provider, path: req.url, headers,
        body: parsed.ok ? parsed.value : null });
    const invalid = parsed.ok ? invalid_request(provider, parsed.value) : 'body is not valid JSON';
    if (invalid) return send_json(res, 400, error_body(provider, 400, `fake-llm: ${invalid}`));
    const body = parsed.value;
    if (provider === 'embeddings') return send_json(res, 200, embeddings_response(body));
    const item = state.queue.shift() ?? {}; // Taken on arrival: invariant (2).
    if (item.delay_ms) await ctx.sleep(item.delay_ms);
    // A reset during the delay cuts this request, as it cuts held ones; a gone client is dropped.
    if (ctx.state !== state) return res.destroy();
    if (item.hold !== undefined && !res.destroyed) {
        if (!(await wait_for_release(state, item.hold, res))) return;
    }
    if (res.destroyed) return;
    const plan = plan_for(item, conversation_view(provider, body));
    if (plan.kind === 'http' || (plan.kind === 'sse_error' && body.stream !== true)) {
        const status = plan.kind === 'http' ? plan.status : 500;
        const headers = status === 429 ? { 'retry-after': String(plan.retry_after ?? 1) } : {};
        const message = `fake-llm: scripted HTTP ${status}`;
        return send_json(res, status, plan.body ?? error_body(provider, status, message), headers);
    }
    if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        return (provider === 'openai' ? openai_stream : anthropic_stream)(res, state, body, plan);
    }
    if (plan.kind === 'malformed') return send_json(res, 200, '{"id":"broken","content":[');
    const reply = provider === 'openai' ? openai_completion : anthropic_message;
    send_json(res, 200, reply(state, body, plan));
}

function no_route(route) {
    return error_body('openai', 404, `fake-llm: no route for ${route}`);
}

function handle_control(ctx, res, route, text) {
    const fail = (message) => send_json(res, 400, { error: { message: `fake-llm: ${message}` } });
    const parsed = text === '' ? { ok: true, value: {} } : parse_json(text);
    if (!parsed.ok) return fail('body is not valid JSON');
    const body = parsed.value ?? {};
    const state = ctx.state;
    switch (route) {
    case 'GET /__fake/health': return send_json(res, 200, { status: 'ok' });
    case 'GET /__fake/requests': return send_json(res, 200, state.requests);
    case 'GET /__fake/held': return send_json(res, 200, { held: state.holds.map((h) => h.name) });
    case 'POST /__fake/reset':
        // Held and delayed requests belong to the previous test: cut them, rather than let them
        // take ids and queued replies from the next one.
        for (const h of state.holds) h.res.destroy();
        ctx.state = fresh_state();
        ctx.wake_sleepers();
        return send_json(res, 200, { status: 'ok' });
    case 'POST /__fake/queue': {
        if (!Array.isArray(body.responses)) return fail('responses must be an array');
        const bad = body.responses.map(invalid_item).find((e) => e !== null);
        if (bad) return fail(bad);
        state.queue.push(...body.responses);
        return send_json(res, 200, { queued: body.responses.length, pending: state.queue.length });
    }
    case 'POST /__fake/release': {
        if (typeof body.name !== 'string') return fail('name must be a string');
        const waking = state.holds.filter((h) => h.name === body.name);
        state.holds = state.holds.filter((h) => h.name !== body.name);
        waking.forEach((h) => h.resolve(true));
        return send_json(res, 200, { released: waking.length });
    }
    default: return send_json(res, 404, no_route(route));
    }
}

async function handle(ctx, req, res) {
    res.on('error', () => {}); // Writes after a peer reset must not crash us: invariant (3).
    const path = req.url.split('?')[0];
    const route = `${req.method} ${path}`;
    const provider = llm_routes[path];
    const text = await read_body(req);
    if (text === null) return send_json(res, 413, error_body(provider, 413, 'fake-llm: too large'));
    if (provider && req.method === 'POST') return handle_llm(ctx, req, res, provider, text);
    if (route === 'GET /v1/models') return send_json(res, 200, { object: 'list', data: models });
    if (path.startsWith('/__fake/')) return handle_control(ctx, res, route, text);
    send_json(res, 404, no_route(route));
}

// Starts the fake on 127.0.0.1 (port 0 picks a free port). close() cuts open connections, so it
// never waits for a held request or an idle keep-alive client.
// With `tls` ({cert, key}: PEM text) it serves HTTPS instead of HTTP.
export function startFakeLlm({ port = 0, tls = null } = {}) {
    const ctx = { state: fresh_state() };
    const sleepers = new Map(); // timer -> resolve, so reset and close can end delays early.
    ctx.sleep = (ms) => new Promise((resolve) => {
        const timer = setTimeout(() => { sleepers.delete(timer); resolve(); }, ms);
        sleepers.set(timer, resolve);
    });
    ctx.wake_sleepers = () => {
        sleepers.forEach((resolve, timer) => { clearTimeout(timer); resolve(); });
        sleepers.clear();
    };
    const on_request = (req, res) => {
        handle(ctx, req, res).catch(() => {
            if (res.headersSent) res.destroy();
            else send_json(res, 500, error_body('openai', 500, 'fake-llm: internal error'));
        });
    };
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, on_request)
        : http.createServer(on_request);
    server.on('clientError', (_err, socket) => socket.destroy());
    // A client that rejects the certificate aborts the handshake; that is not the fake's failure.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve({
            port: server.address().port,
            close: () => new Promise((done) => {
                ctx.wake_sleepers();
                server.close(() => done());
                server.closeAllConnections();
            }),
        }));
    });
}

// Usage: node fake-llm.mjs [--port N] [--port-file PATH] [--tls-cert PEM --tls-key PEM].
// Bad arguments exit 2.
const parent_poll_ms = 500;

async function main() {
    const options = {
        port: { type: 'string', default: '0' }, 'port-file': { type: 'string' },
        'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
    };
    const { values } = parseArgs({ options });
    if (!/^\d+$/.test(values.port)) throw new Error(`--port must be a number, got ${values.port}`);
    if (!values['tls-cert'] !== !values['tls-key']) {
        throw new Error('--tls-cert and --tls-key go together');
    }
    const tls = values['tls-cert']
        ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) } : null;
    const fake = await startFakeLlm({ port: Number(values.port), tls });
    const port_file = values['port-file'];
    if (port_file) {
        // Written then renamed, so a harness polling for the file never reads a partial port.
        writeFileSync(`${port_file}.tmp`, `${fake.port}\n`);
        renameSync(`${port_file}.tmp`, port_file);
    }
    console.log(`fake-llm listening on 127.0.0.1:${fake.port}${tls ? ' (https)' : ''}`);
    const stop = () => fake.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // A harness that crashes cannot stop its fake: the fake stops itself once its parent is gone
    // (it is re-parented), so no test run leaves one behind.
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) stop(); }, parent_poll_ms).unref();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    main().catch((err) => { console.error(`fake-llm: ${err.message}`); process.exit(2); });
}
