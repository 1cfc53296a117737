// Goal: prove that the scripted fake LLM (fake-llm.mjs) speaks the OpenAI Chat Completions,
// Anthropic Messages and OpenAI embeddings wire formats well enough that the official clients
// accept it, and that every control-API feature later tests rely on does what README.md says.
// Method: start the fake in-process on a free loopback port once for this file and reset it before
// each test. Raw fetch() checks the exact framing (SSE `data:` lines, blank-line separators, [DONE]
// only for OpenAI, Anthropic event names, split argument deltas); openai@6.49.0 and
// @anthropic-ai/sdk@1.12.0, pointed at the fake with retries off, check that real clients parse
// it. The CLI test spawns `node fake-llm.mjs` and stops exactly the PID it started.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFakeLlm } from './fake-llm.mjs';

let fake;
let base;
let openai;
let anthropic;

before(async () => {
    fake = await startFakeLlm({ port: 0 });
    base = `http://127.0.0.1:${fake.port}`;
    // logLevel 'off' keeps the SDKs from printing the parse errors the malformed tests provoke.
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'fake', maxRetries: 0, logLevel: 'off' });
    anthropic = new Anthropic({ baseURL: base, apiKey: 'fake', maxRetries: 0, logLevel: 'off' });
});
after(() => fake.close());
beforeEach(async () => {
    assert.equal((await post('/__fake/reset', {})).status, 200);
});

function post(path, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return fetch(base + path, { method: 'POST', body: text,
        headers: { 'content-type': 'application/json', ...headers } });
}

async function get_json(path) {
    return (await fetch(base + path)).json();
}

// Polls `check` every 10 ms for up to 5 s; returns whether it became true.
async function until(check) {
    for (let i = 0; i < 500; i++) {
        if (await check()) return true;
        await sleep(10);
    }
    return false;
}

async function release(name) {
    return (await post('/__fake/release', { name })).json();
}

async function queue(...responses) {
    const res = await post('/__fake/queue', { responses });
    assert.equal(res.status, 200, await res.clone().text());
}

// Returns the frames of an SSE body, asserting the framing that both providers share: frames are
// separated by one blank line and the body ends with one.
async function sse_frames(res) {
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const text = await res.text();
    assert.ok(text.endsWith('\n\n'), 'an SSE body ends with a blank line');
    return text.slice(0, -2).split('\n\n');
}

// OpenAI frames are single `data: ` lines. Returns the payloads, [DONE] kept as a string.
async function openai_sse(body) {
    const frames = await sse_frames(await post('/v1/chat/completions', { ...body, stream: true }));
    return frames.map((frame) => {
        assert.match(frame, /^data: [^\n]*$/, 'one data line per OpenAI frame, no event name');
        const payload = frame.slice('data: '.length);
        return payload === '[DONE]' ? payload : JSON.parse(payload);
    });
}

// Anthropic frames are `event: <name>` then `data: <json>`, whose `type` repeats the name.
async function anthropic_sse(body) {
    const frames = await sse_frames(await post('/v1/messages', { ...body, stream: true }));
    return frames.map((frame) => {
        const match = /^event: (\w+)\ndata: (.*)$/.exec(frame);
        assert.ok(match, `bad Anthropic frame: ${frame}`);
        const data = JSON.parse(match[2]);
        assert.equal(data.type, match[1]);
        return data;
    });
}

const openai_usage = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 };
const user = (content) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
const claude = (content) => ({ model: 'claude-fake', max_tokens: 1024,
    messages: [{ role: 'user', content }] });
const weather_tool = { type: 'function', function: { name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
const send_message_openai = { type: 'function', function: { name: 'send_message',
    parameters: { type: 'object', properties: { message: { type: 'string' } } } } };
const send_message_anthropic = { name: 'send_message',
    input_schema: { type: 'object', properties: { message: { type: 'string' } } } };

// [id, name, parsed arguments] of an OpenAI tool call.
const call_summary = (c) => [c.id, c.function.name, JSON.parse(c.function.arguments)];

describe('control API', () => {
    test('health, models and unknown paths', async () => {
        assert.deepEqual(await get_json('/__fake/health'), { status: 'ok' });
        const models = await openai.models.list();
        assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini' && m.object === 'model'));
        for (const path of ['/nope', '/chat/completions', '/v1/completions', '/__fake/nope']) {
            assert.equal((await post(path, user('hi'))).status, 404, path);
        }
        const get = await fetch(`${base}/v1/chat/completions`);
        assert.equal(get.status, 404, 'GET is not a route');
    });

    test('bad input gets a provider-shaped 400 and the fake keeps serving', async () => {
        let res = await post('/v1/chat/completions', '{not json');
        assert.equal(res.status, 400);
        assert.equal((await res.json()).error.type, 'invalid_request_error');
        res = await post('/v1/messages', { model: 'x', max_tokens: 5 });
        assert.equal(res.status, 400);
        assert.deepEqual(Object.keys(await res.json()), ['type', 'error']);
        for (const [path, body] of [['/v1/chat/completions', '[]'], ['/v1/embeddings', {}],
            ['/v1/embeddings', { input: 'x', dimensions: 0 }], ['/v1/chat/completions', 'null']]) {
            assert.equal((await post(path, body)).status, 400, `${path} ${JSON.stringify(body)}`);
        }
        for (const responses of [[{ http: 99 }], [7], [{ tools: [] }], [{ finish: 'stop' }], 'x']) {
            assert.equal((await post('/__fake/queue', { responses })).status, 400);
        }
        assert.equal((await post('/__fake/queue', '{')).status, 400);
        assert.equal((await post('/__fake/release', {})).status, 400);
        const reply = await openai.chat.completions.create(user('still alive?'));
        assert.equal(reply.choices[0].message.content, 'ECHO: still alive?');
    });

    test('requests are recorded in order with headers and the body as sent', async () => {
        const sent = { ...user('hi'), temperature: 0 };
        await openai.chat.completions.create(sent);
        await anthropic.messages.create(claude('yo'));
        await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
        await post('/v1/chat/completions', '{bad');
        // What Kelpie will send (research §9.2); @anthropic-ai/sdk 1.12 sends Bearer auth instead.
        const anthropic_headers = { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' };
        await post('/v1/messages', claude('raw'), anthropic_headers);
        const requests = await get_json('/__fake/requests');
        assert.deepEqual(requests.map((r) => [r.seq, r.provider, r.path]), [
            [1, 'openai', '/v1/chat/completions'], [2, 'anthropic', '/v1/messages'],
            [3, 'embeddings', '/v1/embeddings'], [4, 'openai', '/v1/chat/completions'],
            [5, 'anthropic', '/v1/messages']]);
        assert.deepEqual(requests[0].body, sent);
        assert.equal(requests[0].headers.authorization, 'Bearer fake');
        assert.equal(requests[0].headers['content-type'], 'application/json');
        assert.equal(requests[1].headers.authorization, 'Bearer fake');
        assert.ok(requests[1].headers['anthropic-version'], 'the SDK sends its API version');
        assert.deepEqual(requests[1].body, claude('yo'));
        assert.deepEqual(requests[4].headers, { ...anthropic_headers, host: base.slice(7),
            'content-type': 'application/json' }, 'only the five recorded headers, as sent');
        assert.equal(requests[3].body, null, 'an unparsable body is recorded as null');
    });

    test('reset clears the queue, the requests and the id counters', async () => {
        await queue({ tool: 'a' });
        assert.equal((await openai.chat.completions.create(user('x'))).choices[0].message
            .tool_calls[0].id, 'call_1');
        await queue({ text: 'left over' });
        await post('/__fake/reset', {});
        assert.deepEqual(await get_json('/__fake/requests'), []);
        const reply = await openai.chat.completions.create(user('fresh'));
        assert.equal(reply.id, 'chatcmpl-1');
        assert.equal(reply.choices[0].message.content, 'ECHO: fresh', 'queue was cleared');
    });

    test('one queue serves both providers in arrival order', async () => {
        await queue({ text: 'first' }, { text: 'second' }, { text: 'third' });
        const a = await anthropic.messages.create(claude('x'));
        const o = await openai.chat.completions.create(user('x'));
        const s = await openai.chat.completions.stream(user('x')).finalChatCompletion();
        assert.equal(a.content[0].text, 'first');
        assert.equal(o.choices[0].message.content, 'second');
        assert.equal(s.choices[0].message.content, 'third');
    });

    test('the same script gives byte-identical responses after a reset', async () => {
        const run = async () => {
            await queue({ tools: [{ name: 'a', args: { x: 1 } }, { name: 'b' }] });
            const res = await post('/v1/chat/completions', { ...user('x'), stream: true });
            const text = await res.text();
            await post('/__fake/reset', {});
            return text;
        };
        assert.equal(await run(), await run());
    });
});

describe('OpenAI chat completions', () => {
    test('text, non-stream, through the SDK', async () => {
        await queue({ text: 'Hello there' });
        const reply = await openai.chat.completions.create(user('hi'));
        assert.equal(reply.id, 'chatcmpl-1');
        assert.equal(reply.object, 'chat.completion');
        assert.equal(reply.created, 1700000000);
        assert.deepEqual(reply.choices[0].message,
            { role: 'assistant', content: 'Hello there', refusal: null });
        assert.equal(reply.choices[0].finish_reason, 'stop');
        assert.deepEqual(reply.usage, openai_usage);
    });

    test('text stream framing: data lines, split content, [DONE] last, no usage', async () => {
        await queue({ text: 'Hello there' });
        const events = await openai_sse(user('hi'));
        assert.equal(events.at(-1), '[DONE]');
        const chunks = events.slice(0, -1);
        assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
        assert.ok(chunks.every((c) => c.id === 'chatcmpl-1'), 'one id for the whole stream');
        assert.ok(chunks.every((c) => !('usage' in c)), 'no usage without include_usage');
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        const pieces = chunks.map((c) => c.choices[0].delta.content).filter((p) => p);
        assert.ok(pieces.length >= 2);
        assert.equal(pieces.join(''), 'Hello there');
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    });

    test('include_usage: usage null on each chunk, then a last chunk with usage only', async () => {
        const events = await openai_sse({ ...user('hi'), stream_options: { include_usage: true } });
        assert.equal(events.at(-1), '[DONE]');
        const last = events.at(-2);
        assert.deepEqual(last.choices, []);
        assert.deepEqual(last.usage, openai_usage);
        assert.ok(events.slice(0, -2).every((c) => c.usage === null));
        const final = await openai.chat.completions.stream({ ...user('hi'),
            stream_options: { include_usage: true } }).finalChatCompletion();
        assert.equal(final.usage.total_tokens, 110);
        assert.equal(final.choices[0].message.content, 'ECHO: hi');
    });

    test('text stream through the SDK', async () => {
        await queue({ text: 'Ünïcode 😀 ok' });
        const final = await openai.chat.completions.stream(user('hi')).finalChatCompletion();
        assert.equal(final.choices[0].message.content, 'Ünïcode 😀 ok');
        assert.equal(final.choices[0].finish_reason, 'stop');
    });

    test('tool calls, non-stream, single and parallel', async () => {
        await queue({ tool: 'get_weather', args: { city: 'Oslo' } },
            { tools: [{ name: 'a', args: { n: 1 } }, { name: 'b', args: { n: 2 } }] });
        const one = await openai.chat.completions.create({ ...user('x'), tools: [weather_tool] });
        assert.equal(one.choices[0].finish_reason, 'tool_calls');
        assert.equal(one.choices[0].message.content, null);
        assert.deepEqual(one.choices[0].message.tool_calls, [{ id: 'call_1', type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
        const two = await openai.chat.completions.create(user('x'));
        const calls = two.choices[0].message.tool_calls;
        assert.deepEqual(calls.map(call_summary),
            [['call_2', 'a', { n: 1 }], ['call_3', 'b', { n: 2 }]]);
    });

    test('tool-call stream: an index per call, id and name once, arguments split', async () => {
        await queue({ tools: [{ name: 'a', args: { city: 'Oslo' } }, { name: 'b', args: {} }] });
        const chunks = (await openai_sse(user('x'))).slice(0, -1);
        const deltas = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
        const expected = [[0, 'call_1', 'a', '{"city":"Oslo"}'], [1, 'call_2', 'b', '{}']];
        for (const [index, id, name, args] of expected) {
            const mine = deltas.filter((d) => d.index === index);
            const first = { index, id, type: 'function', function: { name, arguments: '' } };
            assert.deepEqual(mine[0], first);
            assert.ok(mine.slice(1).every((d) => !('id' in d) && !('name' in d.function)));
            assert.ok(mine.length - 1 >= 2, 'arguments arrive in at least two deltas');
            assert.equal(mine.map((d) => d.function.arguments).join(''), args);
        }
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    });

    test('parallel tool-call stream through the SDK', async () => {
        await queue({ tools: [{ name: 'a', args: { q: 'é😀' } }, { name: 'b', args: { n: [1] } }] });
        const final = await openai.chat.completions.stream(user('x')).finalChatCompletion();
        const calls = final.choices[0].message.tool_calls;
        assert.deepEqual(calls.map(call_summary),
            [['call_1', 'a', { q: 'é😀' }], ['call_2', 'b', { n: [1] }]]);
        assert.equal(final.choices[0].finish_reason, 'tool_calls');
    });

    test('finish "length" gives finish_reason length, stream and not', async () => {
        await queue({ text: 'cut', finish: 'length' }, { finish: 'length' });
        const reply = await openai.chat.completions.create(user('x'));
        assert.equal(reply.choices[0].finish_reason, 'length');
        const chunks = (await openai_sse(user('x'))).slice(0, -1);
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
    });
});

describe('Anthropic messages', () => {
    test('text, non-stream, through the SDK', async () => {
        await queue({ text: 'Hello there' });
        const reply = await anthropic.messages.create(claude('hi'));
        assert.equal(reply.id, 'msg_1');
        assert.deepEqual(reply.content, [{ type: 'text', text: 'Hello there' }]);
        assert.equal(reply.stop_reason, 'end_turn');
        assert.equal(reply.usage.input_tokens, 100);
        assert.equal(reply.usage.output_tokens, 10);
    });

    test('text stream framing: named events in order, text in >= 2 deltas, no [DONE]', async () => {
        await queue({ text: 'Hello there' });
        const events = await anthropic_sse(claude('hi'));
        assert.deepEqual(events.map((e) => e.type), ['message_start', 'ping', 'content_block_start',
            'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta',
            'message_stop']);
        assert.equal(events[0].message.id, 'msg_1');
        assert.deepEqual(events[2].content_block, { type: 'text', text: '' });
        assert.ok(events.slice(3, 5).every((e) => e.delta.type === 'text_delta'));
        assert.equal(events.slice(3, 5).map((e) => e.delta.text).join(''), 'Hello there');
        assert.equal(events[6].delta.stop_reason, 'end_turn');
        const final = await anthropic.messages.stream(claude('hi')).finalMessage();
        assert.deepEqual(final.content, [{ type: 'text', text: 'ECHO: hi' }]);
    });

    test('tool_use, non-stream, single and parallel, input as objects', async () => {
        await queue({ tool: 'get_weather', args: { city: 'Oslo' } },
            { tools: [{ name: 'a', args: { n: 1 } }, { name: 'b' }] });
        const one = await anthropic.messages.create(claude('x'));
        assert.equal(one.stop_reason, 'tool_use');
        assert.deepEqual(one.content, [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather',
            input: { city: 'Oslo' } }]);
        const two = await anthropic.messages.create(claude('x'));
        assert.deepEqual(two.content.map((b) => [b.id, b.name, b.input]),
            [['toolu_2', 'a', { n: 1 }], ['toolu_3', 'b', {}]]);
    });

    test('tool_use stream: a block per call, input_json_delta in >= 2 pieces', async () => {
        const expected = [[0, 'toolu_1', 'a', { city: 'Oslo' }], [1, 'toolu_2', 'b', { k: 'é' }]];
        await queue({ tools: expected.map(([, , name, args]) => ({ name, args })) });
        const events = await anthropic_sse(claude('x'));
        for (const [index, id, name, input] of expected) {
            const start = events.find((e) => e.type === 'content_block_start' && e.index === index);
            assert.deepEqual(start.content_block, { type: 'tool_use', id, name, input: {} });
            const deltas = events.filter((e) => e.type === 'content_block_delta')
                .filter((e) => e.index === index);
            assert.ok(deltas.length >= 2);
            assert.ok(deltas.every((e) => e.delta.type === 'input_json_delta'));
            assert.deepEqual(JSON.parse(deltas.map((e) => e.delta.partial_json).join('')), input);
        }
        assert.equal(events.at(-2).delta.stop_reason, 'tool_use');
        assert.equal(events.at(-1).type, 'message_stop');
    });

    test('parallel tool_use stream through the SDK', async () => {
        await queue({ tools: [{ name: 'a', args: { q: '😀' } }, { name: 'b', args: { n: 2 } }] });
        const final = await anthropic.messages.stream(claude('x')).finalMessage();
        assert.deepEqual(final.content.map((b) => [b.type, b.id, b.name, b.input]),
            [['tool_use', 'toolu_1', 'a', { q: '😀' }], ['tool_use', 'toolu_2', 'b', { n: 2 }]]);
        assert.equal(final.stop_reason, 'tool_use');
    });

    test('finish "length" gives stop_reason max_tokens, stream and not', async () => {
        await queue({ finish: 'length' }, { text: 'cut', finish: 'length' });
        assert.equal((await anthropic.messages.create(claude('x'))).stop_reason, 'max_tokens');
        const final = await anthropic.messages.stream(claude('x')).finalMessage();
        assert.equal(final.stop_reason, 'max_tokens');
    });
});

describe('embeddings', () => {
    const model = 'text-embedding-3-small';

    test('the SDK default (base64 on the wire) decodes to the float answer', async () => {
        const decoded = await openai.embeddings.create({ model, input: ['alpha', 'beta'] });
        const floats = await openai.embeddings.create({ model, input: ['alpha', 'beta'],
            encoding_format: 'float' });
        const requests = await get_json('/__fake/requests');
        assert.equal(requests[0].body.encoding_format, 'base64', 'the SDK asks for base64 itself');
        assert.equal(floats.data.length, 2);
        assert.equal(floats.data[0].embedding.length, 8, 'default dimensions');
        assert.deepEqual(decoded.data.map((d) => d.embedding), floats.data.map((d) => d.embedding));
        assert.notDeepEqual(floats.data[0].embedding, floats.data[1].embedding);
        assert.deepEqual(floats.usage, { prompt_tokens: 16, total_tokens: 16 });
    });

    test('explicit base64 is little-endian float32; dimensions honoured; stable', async () => {
        const alpha = (encoding_format) => openai.embeddings.create({ model, input: 'alpha',
            encoding_format, dimensions: 16 });
        const raw = await alpha('base64');
        const bytes = Buffer.from(raw.data[0].embedding, 'base64');
        assert.equal(bytes.length, 16 * 4);
        const from_base64 = Array.from({ length: 16 }, (_, i) => bytes.readFloatLE(4 * i));
        const floats = await alpha('float');
        assert.deepEqual(floats.data[0].embedding, from_base64);
        await post('/__fake/reset', {});
        const again = await alpha('float');
        assert.deepEqual(again.data[0].embedding, from_base64);
        const norm = Math.hypot(...from_base64);
        assert.ok(Math.abs(norm - 1) < 1e-5, 'unit length, so cosine similarity is a dot product');
    });

    test('embeddings do not consume the reply queue', async () => {
        await queue({ text: 'kept' });
        await openai.embeddings.create({ model, input: 'x' });
        const reply = await openai.chat.completions.create(user('x'));
        assert.equal(reply.choices[0].message.content, 'kept');
    });
});

describe('scripted failures', () => {
    test('429 carries retry-after and becomes the SDKs\' RateLimitError', async () => {
        await queue({ http: 429 }, { http: 429 }, { http: 429, retry_after: 0 });
        await assert.rejects(openai.chat.completions.create(user('x')),
            (e) => e instanceof OpenAI.RateLimitError && e.status === 429 &&
                e.headers.get('retry-after') === '1' && e.error.code === 'rate_limit_exceeded');
        await assert.rejects(anthropic.messages.create(claude('x')),
            (e) => e instanceof Anthropic.RateLimitError && e.status === 429 &&
                e.error.error.type === 'rate_limit_error');
        const res = await post('/v1/chat/completions', { ...user('x'), stream: true });
        assert.equal(res.status, 429, 'a stream request fails before the stream starts');
        assert.equal(res.headers.get('retry-after'), '0');
    });

    test('500 and a custom error body', async () => {
        await queue({ http: 500 }, { http: 503, body: { error: { message: 'busy', type: 'x' } } },
            { http: 500 });
        await assert.rejects(openai.chat.completions.create(user('x')),
            (e) => e instanceof OpenAI.InternalServerError && e.status === 500);
        await assert.rejects(openai.chat.completions.create(user('x')),
            (e) => e.status === 503 && e.message.includes('busy'));
        await assert.rejects(anthropic.messages.stream(claude('x')).finalMessage(),
            (e) => e instanceof Anthropic.InternalServerError &&
                e.error.error.type === 'api_error');
    });

    test('sse_error: chunks, then an error event; the SDK streams throw', async () => {
        await queue({ sse_error: true }, { sse_error: true });
        const events = await openai_sse(user('x'));
        assert.ok(!events.includes('[DONE]'), 'an errored OpenAI stream has no [DONE]');
        assert.ok(events.length >= 2);
        assert.equal(events.at(-1).error.type, 'server_error');
        const anthropic_events = await anthropic_sse(claude('x'));
        assert.equal(anthropic_events.at(-1).type, 'error');
        assert.equal(anthropic_events.at(-1).error.type, 'overloaded_error');
        assert.ok(!anthropic_events.some((e) => e.type === 'message_stop'));

        await queue({ sse_error: true }, { sse_error: true }, { sse_error: true });
        await assert.rejects(openai.chat.completions.stream(user('x')).finalChatCompletion(),
            OpenAI.APIError);
        await assert.rejects(anthropic.messages.stream(claude('x')).finalMessage(),
            (e) => e instanceof Anthropic.APIError && e.message.includes('overloaded_error'));
        await assert.rejects(openai.chat.completions.create(user('x')),
            (e) => e.status === 500, 'a non-stream request gets a plain 500');
    });

    test('malformed: invalid JSON in a 200 body or stream chunk makes the SDKs throw', async () => {
        await queue(...Array(4).fill({ malformed: true }));
        await assert.rejects(openai.chat.completions.create(user('x')));
        await assert.rejects(anthropic.messages.create(claude('x')));
        await assert.rejects(openai.chat.completions.stream(user('x')).finalChatCompletion(),
            /JSON/);
        await assert.rejects(anthropic.messages.stream(claude('x')).finalMessage());
        await queue({ malformed: true });
        const res = await post('/v1/chat/completions', { ...user('x'), stream: true });
        const frames = await sse_frames(res);
        const parses = (frame) => {
            try { JSON.parse(frame.slice('data: '.length)); return true; } catch { return false; }
        };
        assert.ok(!frames.every(parses), 'some chunk is not valid JSON');
    });

    test('delay_ms holds the answer for at least that long', async () => {
        await queue({ delay_ms: 300, text: 'late' });
        const started = performance.now();
        const reply = await openai.chat.completions.create(user('x'));
        assert.ok(performance.now() - started >= 290);
        assert.equal(reply.choices[0].message.content, 'late');
    });

    test('hold: the request stays pending until released', async () => {
        await queue({ hold: 'gate', text: 'released' }, { text: 'not held' });
        const pending = openai.chat.completions.create(user('x'));
        const outcome = await Promise.race([pending.then(() => 'answered'), sleep(300, 'pending')]);
        assert.equal(outcome, 'pending');
        assert.deepEqual(await get_json('/__fake/held'), { held: ['gate'] });
        const other = await anthropic.messages.create(claude('y'));
        assert.equal(other.content[0].text, 'not held', 'a hold does not block other requests');
        assert.deepEqual(await release('gate'), { released: 1 });
        assert.equal((await pending).choices[0].message.content, 'released');
        assert.deepEqual(await release('gate'), { released: 0 });
    });

    test('a held request whose client disconnects is dropped quietly', async () => {
        await queue({ hold: 'gate' });
        const abort = new AbortController();
        const fetching = fetch(`${base}/v1/chat/completions`, { method: 'POST',
            body: JSON.stringify(user('x')), signal: abort.signal })
            .then(() => 'answered', (e) => e.name);
        assert.ok(await until(async () => (await get_json('/__fake/held')).held.length === 1));
        abort.abort();
        assert.equal(await fetching, 'AbortError');
        assert.ok(await until(async () => (await get_json('/__fake/held')).held.length === 0));
        assert.deepEqual(await release('gate'), { released: 0 });
        assert.deepEqual(await get_json('/__fake/health'), { status: 'ok' });
    });

    test('reset cuts held and delayed requests instead of answering them', async () => {
        await queue({ hold: 'gate' }, { delay_ms: 60000 });
        // The assertions are attached first, so neither rejection is ever unhandled.
        const held = assert.rejects(openai.chat.completions.create(user('x')),
            OpenAI.APIConnectionError);
        const delayed = assert.rejects(anthropic.messages.create(claude('x')),
            Anthropic.APIConnectionError);
        assert.ok(await until(async () => (await get_json('/__fake/requests')).length === 2));
        await post('/__fake/reset', {});
        await Promise.all([held, delayed]);
        assert.deepEqual(await get_json('/__fake/held'), { held: [] });
    });
});

describe('default answers with an empty queue', () => {
    test('ECHO of the last user text, and the last text part of a multi-part message', async () => {
        const o = await openai.chat.completions.create({ model: 'm', messages: [
            { role: 'system', content: 'sys' }, { role: 'user', content: 'first' },
            { role: 'assistant', content: 'ok' },
            { role: 'user', content: [{ type: 'text', text: '<system-reminder>' },
                { type: 'text', text: 'hi' }] }] });
        assert.equal(o.choices[0].message.content, 'ECHO: hi');
        const a = await anthropic.messages.create({ ...claude([{ type: 'text', text: 'yo' }]),
            system: 's' });
        assert.deepEqual(a.content, [{ type: 'text', text: 'ECHO: yo' }]);
    });

    test('a CALL directive becomes that tool call; invalid JSON falls back to ECHO', async () => {
        const o = await openai.chat.completions.create(user('please CALL get_weather {"c":"A"}'));
        assert.deepEqual(call_summary(o.choices[0].message.tool_calls[0]),
            ['call_1', 'get_weather', { c: 'A' }]);
        const a = await anthropic.messages.create(claude('CALL noop'));
        assert.deepEqual(a.content.map((b) => [b.name, b.input]), [['noop', {}]]);
        const bad = await openai.chat.completions.create(user('CALL f {oops}'));
        assert.equal(bad.choices[0].message.content, 'ECHO: CALL f {oops}');
        const recall = await openai.chat.completions.create(user('RECALL f'));
        assert.equal(recall.choices[0].message.content, 'ECHO: RECALL f');
    });

    test('DONE after a tool result', async () => {
        const o = await openai.chat.completions.create({ model: 'm', tools: [send_message_openai],
            messages: [
            { role: 'user', content: 'CALL f {}' },
            { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function',
                function: { name: 'f', arguments: '{}' } }] },
            { role: 'tool', tool_call_id: 'call_9', content: '{"status":"OK"}' }] });
        assert.equal(o.choices[0].message.content, 'DONE');
        const a = await anthropic.messages.create({ model: 'm', max_tokens: 10, messages: [
            { role: 'user', content: 'CALL f {}' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: '1' }] },
        ] });
        assert.deepEqual(a.content, [{ type: 'text', text: 'DONE' }]);
    });

    test('with send_message offered, ECHO is sent as a send_message call', async () => {
        const tools = [weather_tool, send_message_openai];
        const o = await openai.chat.completions.create({ ...user('hi'), tools });
        assert.deepEqual(call_summary(o.choices[0].message.tool_calls[0]),
            ['call_1', 'send_message', { message: 'ECHO: hi' }]);
        const a = await anthropic.messages.stream({ ...claude('hi'),
            tools: [send_message_anthropic] }).finalMessage();
        assert.deepEqual(a.content.map((b) => [b.name, b.input]),
            [['send_message', { message: 'ECHO: hi' }]]);
        const directive = await openai.chat.completions.create({ ...user('CALL f {}'), tools });
        const call = directive.choices[0].message.tool_calls[0];
        assert.equal(call.function.name, 'f', 'a directive wins over send_message');
    });
});

describe('CLI', () => {
    test('--port 0 --port-file: writes the port, serves, exits 0 on SIGTERM', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'fake-llm-'));
        const port_file = join(dir, 'port');
        const child = spawn(process.execPath, [new URL('./fake-llm.mjs', import.meta.url).pathname,
            '--port', '0', '--port-file', port_file], { stdio: ['ignore', 'pipe', 'inherit'] });
        const exited = new Promise((resolve) => {
            child.on('exit', (code, signal) => resolve({ code, signal }));
        });
        let stdout = '';
        child.stdout.on('data', (d) => { stdout += d; });
        try {
            assert.ok(await until(() => existsSync(port_file)), 'the port file appears');
            const port = Number(readFileSync(port_file, 'utf8'));
            assert.ok(port > 0);
            const health = await (await fetch(`http://127.0.0.1:${port}/__fake/health`)).json();
            assert.deepEqual(health, { status: 'ok' });
            assert.equal(stdout, `fake-llm listening on 127.0.0.1:${port}\n`);
            assert.ok(process.kill(child.pid, 'SIGTERM'));
            assert.deepEqual(await exited, { code: 0, signal: null });
        } finally {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            rmSync(dir, { recursive: true, force: true });
        }
    });

    test('a bad argument exits 2', async () => {
        const child = spawn(process.execPath, [new URL('./fake-llm.mjs', import.meta.url).pathname,
            '--port', 'x'], { stdio: 'ignore' });
        const code = await new Promise((resolve) => child.on('exit', resolve));
        assert.equal(code, 2);
    });
});
