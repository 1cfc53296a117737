// Goal: the real @letta-ai/letta-client 1.12.1 talks to agents on kelpie serve as on Letta:
// plain sends (LettaResponse without the user message), step streaming and token streaming (one
// otid per message across its deltas; stop_reason, usage, [DONE]), the legacy /messages/stream,
// `input` and content parts, history listing in chronological order with cursors, tool calls
// and returns with the memory edit visible in the next prompt the model gets, client tools and
// approvals (a plain message meanwhile is a 409 naming the approval), runs (a background stream
// followed again after a dropped connection), conversations
// (including `default` with agent_id), reset, async sends, and model failures as stop reasons.
// Method: one kelpie serve + the scripted fake LLM (harness.mjs); what the server sent the model
// is read back from the fake's request log.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { collect, startKelpie } from './harness.mjs';

let k;
before(async () => { k = await startKelpie(); });
after(async () => { await k.stop(); });
beforeEach(async () => { await k.fake.reset(); });

const chats = async () => (await k.fake.requests()).filter((r) => r.provider === 'openai');

test('a plain message: the answer, the stop reason, usage, and the history', async () => {
    const agent = await k.client.agents.create({ memory_blocks: [{ label: 'human', value: 'Name: Bob' }] });
    const r = await k.client.agents.messages.create(agent.id, {
        messages: [{ role: 'user', content: 'hello there', otid: 'otid-plain-1' }],
    });
    assert.deepEqual(r.messages.map((m) => m.message_type), ['assistant_message']);
    assert.equal(r.messages[0].content, 'ECHO: hello there');
    assert.equal(r.stop_reason.stop_reason, 'end_turn');
    assert.equal(r.usage.step_count, 1);
    assert.equal(r.usage.total_tokens, 110);
    const sent = (await chats())[0].body;
    assert.match(sent.messages[0].content, /<human>[\s\S]*Name: Bob[\s\S]*<\/human>/);
    assert.equal(sent.messages.at(-1).content, 'hello there');
    assert.deepEqual(sent.tools.map((t) => t.function.name).sort(), ['conversation_search', 'memory_insert', 'memory_replace']);

    const history = await k.client.agents.messages.list(agent.id);
    assert.deepEqual(history.items.map((m) => m.message_type), ['system_message', 'user_message', 'assistant_message']);
    assert.equal(history.items[1].otid, 'otid-plain-1');
    assert.equal(history.items[1].content, 'hello there');

    // `input` and content parts.
    const viaInput = await k.client.agents.messages.create(agent.id, { input: 'short form' });
    assert.equal(viaInput.messages[0].content, 'ECHO: short form');
    const parts = await k.client.agents.messages.create(agent.id, {
        messages: [{ role: 'user', content: [{ type: 'text', text: 'in parts' }] }],
    });
    assert.equal(parts.messages[0].content, 'ECHO: in parts');
});

test('history pagination: chronological windows, cursors, limit, a full walk that ends', async () => {
    const agent = await k.client.agents.create({});
    for (let i = 0; i < 4; i++) await k.client.agents.messages.create(agent.id, { input: `m${i}` });
    const newest = await k.client.agents.messages.list(agent.id, { limit: 2 });
    assert.deepEqual(newest.items.map((m) => m.message_type), ['user_message', 'assistant_message']);
    assert.equal(newest.items[1].content, 'ECHO: m3');
    const oldest = await k.client.agents.messages.list(agent.id, { limit: 2, order: 'asc' });
    assert.equal(oldest.items[0].message_type, 'system_message');
    const afterFirstUser = await k.client.agents.messages.list(agent.id, { after: oldest.items[1].id, order: 'asc', limit: 1 });
    assert.equal(afterFirstUser.items[0].content, 'ECHO: m0');
    const walked = [];
    for await (const m of k.client.agents.messages.list(agent.id, { order: 'asc', limit: 3 })) walked.push(m.id);
    assert.equal(walked.length, 9);   // system + 4 × (user, assistant)
    assert.equal(new Set(walked).size, 9);
    const users = await k.client.agents.messages.list(agent.id, { include_return_message_types: ['user_message'] });
    assert.deepEqual(users.items.map((m) => m.content), ['m0', 'm1', 'm2', 'm3']);
});

test('step streaming, token streaming and the legacy stream endpoint', async () => {
    const agent = await k.client.agents.create({ memory_blocks: [{ label: 'human', value: 'x' }] });
    await k.fake.queue([{ tool: 'conversation_search', args: { query: 'x' } }, { text: 'found it' }]);
    const steps = await collect(await k.client.agents.messages.create(agent.id, { input: 'search', streaming: true }));
    assert.deepEqual(steps.map((c) => c.message_type),
        ['tool_call_message', 'tool_return_message', 'assistant_message', 'stop_reason', 'usage_statistics']);
    assert.equal(steps[0].tool_call.name, 'conversation_search');
    assert.equal(steps[1].tool_call_id, steps[0].tool_call.tool_call_id);
    assert.equal(steps[3].stop_reason, 'end_turn');
    assert.ok(steps[0].run_id && steps[0].run_id === steps[2].run_id);

    const tokens = await collect(await k.client.agents.messages.create(agent.id, {
        input: 'a token stream', streaming: true, stream_tokens: true,
    }));
    const deltas = tokens.filter((c) => c.message_type === 'assistant_message');
    assert.ok(deltas.length >= 2, 'the answer arrives in pieces');
    assert.equal(new Set(deltas.map((d) => d.otid)).size, 1);
    assert.equal(new Set(deltas.map((d) => d.id)).size, 1);
    assert.equal(deltas.map((d) => d.content).join(''), 'ECHO: a token stream');
    assert.equal(tokens.at(-1).message_type, 'usage_statistics');

    const legacy = await collect(await k.client.agents.messages.stream(agent.id, { input: 'legacy' }));
    assert.equal(legacy.find((c) => c.message_type === 'assistant_message').content, 'ECHO: legacy');

    // The raw framing: data lines, then [DONE].
    const raw = await (await k.raw('POST', `/v1/agents/${agent.id}/messages`,
        JSON.stringify({ input: 'raw', streaming: true }))).text();
    assert.match(raw, /^data: \{/);
    assert.match(raw, /data: \{"message_type":"stop_reason","stop_reason":"end_turn"\}\n\ndata: \{"message_type":"usage_statistics"[^\n]*\n\ndata: \[DONE\]\n\n$/);
});

test('a memory edit by a tool reaches the block and the next prompt', async () => {
    const agent = await k.client.agents.create({ memory_blocks: [{ label: 'human', value: 'Name: Bob' }] });
    await k.fake.queue([{ tool: 'memory_insert', args: { label: 'human', new_string: 'Likes tea' } }]);
    const r = await k.client.agents.messages.create(agent.id, { input: 'I like tea' });
    assert.deepEqual(r.messages.map((m) => m.message_type), ['tool_call_message', 'tool_return_message', 'assistant_message']);
    assert.equal(r.messages[1].status, 'success');
    assert.equal(r.messages[2].content, 'DONE');
    const requests = await chats();
    assert.equal(requests.length, 2);
    assert.doesNotMatch(requests[0].body.messages[0].content, /Likes tea/);
    assert.match(requests[1].body.messages[0].content, /Name: Bob\nLikes tea/);
    const toolMessage = requests[1].body.messages.at(-1);
    assert.equal(toolMessage.role, 'tool');
    assert.equal(toolMessage.tool_call_id, requests[1].body.messages.at(-2).tool_calls[0].id);
    assert.equal(JSON.parse(toolMessage.content).status, 'OK');
    const block = await k.client.agents.blocks.retrieve('human', { agent_id: agent.id });
    assert.equal(block.value, 'Name: Bob\nLikes tea');
    // A failing tool gives an error return; the loop goes on.
    await k.fake.queue([{ tool: 'memory_replace', args: { label: 'human', old_string: 'absent', new_string: 'y' } }]);
    const bad = await k.client.agents.messages.create(agent.id, { input: 'edit' });
    assert.equal(bad.messages[1].status, 'error');
    assert.equal(bad.stop_reason.stop_reason, 'end_turn');
});

test('client tools stop for approval; the client result continues the loop', async () => {
    const agent = await k.client.agents.create({});
    const client_tools = [{ name: 'Bash', description: 'run a command',
        parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }];
    await k.fake.queue([{ tool: 'Bash', args: { command: 'echo hi' } }]);
    const first = await collect(await k.client.agents.messages.create(agent.id, {
        input: 'run it', streaming: true, client_tools,
    }));
    assert.deepEqual(first.map((c) => c.message_type), ['approval_request_message', 'stop_reason', 'usage_statistics']);
    assert.equal(first[1].stop_reason, 'requires_approval');
    const call = first[0].tool_call;
    assert.equal(call.name, 'Bash');
    assert.ok((await chats())[0].body.tools.some((t) => t.function.name === 'Bash'));

    const state = await k.client.agents.retrieve(agent.id);
    assert.ok(state.pending_approval);
    await assert.rejects(k.client.agents.messages.create(agent.id, { input: 'are you there?' }),
        (e) => e.status === 409 && /waiting for approval/.test(e.error.detail));

    const done = await collect(await k.client.agents.messages.create(agent.id, {
        messages: [{ type: 'approval', approvals: [{ type: 'tool', tool_call_id: call.tool_call_id,
            tool_return: [{ type: 'text', text: 'hi\n' }], status: 'success' }] }],
        streaming: true, client_tools,
    }));
    assert.deepEqual(done.map((c) => c.message_type), ['tool_return_message', 'assistant_message', 'stop_reason', 'usage_statistics']);
    assert.equal(done[0].tool_return, 'hi\n');
    assert.equal(done[1].content, 'DONE');
    const last = (await chats()).at(-1).body.messages.at(-1);
    assert.equal(last.role, 'tool');
    assert.equal(JSON.parse(last.content).message, 'hi\n');
    const history = await k.client.agents.messages.list(agent.id);
    assert.ok(history.items.some((m) => m.message_type === 'approval_response_message'));
});

test('a server tool with a requires_approval rule: denied, then the model is told', async () => {
    const agent = await k.client.agents.create({ tool_rules: [{ type: 'requires_approval', tool_name: 'memory_insert' }],
        memory_blocks: [{ label: 'human', value: 'v' }] });
    await k.fake.queue([{ tool: 'memory_insert', args: { label: 'human', new_string: 'secret' } }]);
    const r = await k.client.agents.messages.create(agent.id, { input: 'remember' });
    assert.equal(r.stop_reason.stop_reason, 'requires_approval');
    const id = r.messages[0].tool_call.tool_call_id;
    const denied = await k.client.agents.messages.create(agent.id, {
        messages: [{ type: 'approval', approvals: [{ type: 'approval', tool_call_id: id, approve: false, reason: 'no' }] }],
    });
    assert.equal(denied.messages[0].status, 'error');
    assert.match(denied.messages[0].tool_return, /denied.*no/);
    assert.equal((await k.client.agents.blocks.retrieve('human', { agent_id: agent.id })).value, 'v');
});

test('runs: retrieve, list by agent, messages, usage, steps; async sends', async () => {
    const agent = await k.client.agents.create({});
    await k.fake.queue([{ tool: 'conversation_search', args: { query: 'q' } }, { text: 'ok' }]);
    const r = await k.client.agents.messages.create(agent.id, { input: 'two steps' });
    const runId = r.usage.run_ids[0];
    const run = await k.client.runs.retrieve(runId);
    assert.equal(run.status, 'completed');
    assert.equal(run.stop_reason, 'end_turn');
    assert.equal(run.agent_id, agent.id);
    const runs = await k.client.runs.list({ agent_id: agent.id });
    assert.deepEqual(runs.items.map((x) => x.id), [runId]);
    const runMessages = [];
    for await (const m of k.client.runs.messages.list(runId)) runMessages.push(m.message_type);
    assert.deepEqual(runMessages, ['user_message', 'tool_call_message', 'tool_return_message', 'assistant_message']);
    const usage = await k.client.runs.usage.retrieve(runId);
    assert.equal(usage.total_tokens, 220);
    const steps = await k.client.runs.steps.list(runId);
    assert.equal(steps.items.length, 2);

    const started = await k.client.agents.messages.createAsync(agent.id, { input: 'in the background' });
    assert.match(started.id, /^run-/);
    let finished;
    for (let i = 0; i < 100 && !(finished && finished.status === 'completed'); i++) {
        finished = await k.client.runs.retrieve(started.id);
        await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(finished.status, 'completed');
});

test('a background stream cut mid-run is followed again from its last seq_id (runs.messages.stream)', async () => {
    const agent = await k.client.agents.create({});
    // The second model call waits: the client drops its connection in between.
    await k.fake.queue([{ tool: 'conversation_search', args: { query: 'q' } }, { delay_ms: 400, text: 'after the break' }]);
    const stream = await k.client.agents.messages.create(agent.id, {
        input: 'look it up', streaming: true, background: true, include_pings: false,
    });
    let first;
    for await (const chunk of stream) { first = chunk; break; }  // leaving the loop aborts the request
    assert.equal(first.message_type, 'tool_call_message');
    assert.equal(first.seq_id, 1);
    const rest = await collect(await k.client.runs.messages.stream(first.run_id, { starting_after: first.seq_id }));
    assert.deepEqual(rest.map((c) => c.message_type),
        ['tool_return_message', 'assistant_message', 'stop_reason', 'usage_statistics']);
    assert.deepEqual(rest.slice(0, 2).map((c) => c.seq_id), [2, 3]);
    assert.equal(rest[1].content, 'after the break');
    const run = await k.client.runs.retrieve(first.run_id);
    assert.equal(run.status, 'completed');
    assert.equal(run.background, true);
    // letta-code's other way back in: by conversation (default: with the agent), from the start.
    const again = await collect(await k.client.conversations.messages.stream('default', { agent_id: agent.id, starting_after: 0 }));
    assert.deepEqual(again.map((c) => c.seq_id).slice(0, 3), [1, 2, 3]);
    assert.equal(again[0].run_id, first.run_id);
    assert.equal(again.at(-1).message_type, 'usage_statistics');
});

test('conversations: create, retrieve, list, stream messages, the default conversation', async () => {
    const agent = await k.client.agents.create({});
    const conv = await k.client.conversations.create({ agent_id: agent.id, isolated_block_labels: [] });
    assert.match(conv.id, /^conv-/);
    assert.equal(conv.agent_id, agent.id);
    assert.equal((await k.client.conversations.retrieve(conv.id)).id, conv.id);
    const listed = await k.client.conversations.list({ agent_id: agent.id });
    assert.deepEqual(listed.map((c) => c.id), [conv.id]);
    const chunks = await collect(await k.client.conversations.messages.create(conv.id, {
        messages: [{ role: 'user', content: 'in a conversation' }],
    }));
    assert.equal(chunks.find((c) => c.message_type === 'assistant_message').content, 'ECHO: in a conversation');
    const convMessages = await k.client.conversations.messages.list(conv.id, { order: 'desc' });
    assert.deepEqual(convMessages.items.map((m) => m.message_type), ['assistant_message', 'user_message']);
    const viaDefault = await collect(await k.client.conversations.messages.create('default', {
        agent_id: agent.id, messages: [{ role: 'user', content: 'agent-direct' }],
    }));
    assert.equal(viaDefault.find((c) => c.message_type === 'assistant_message').content, 'ECHO: agent-direct');
    const defaults = await k.client.agents.messages.list(agent.id, { conversation_id: 'default' });
    assert.ok(defaults.items.some((m) => m.content === 'agent-direct'));
    assert.ok(!defaults.items.some((m) => m.content === 'in a conversation'));
    // The conversation's own history stays separate in what the model sees.
    const lastSent = (await chats()).at(-1).body.messages.map((m) => m.content);
    assert.ok(!lastSent.includes('in a conversation'));
});

test('reset clears the history; model failures are stop reasons', async () => {
    const agent = await k.client.agents.create({});
    await k.client.agents.messages.create(agent.id, { input: 'before reset' });
    await k.client.agents.messages.reset(agent.id, { add_default_initial_messages: false });
    const after = await k.client.agents.messages.list(agent.id);
    assert.deepEqual(after.items.map((m) => m.message_type), ['system_message']);

    await k.fake.queue([{ http: 401 }]);
    const failed = await k.client.agents.messages.create(agent.id, { input: 'fail please' });
    assert.equal(failed.stop_reason.stop_reason, 'llm_api_error');
    // Streaming: the error arrives as `event: error`, which the SDK throws.
    await k.fake.queue([{ http: 401 }]);
    const stream = await k.client.agents.messages.create(agent.id, { input: 'fail again', streaming: true });
    await assert.rejects(collect(stream), (e) => /authentication/.test(JSON.stringify(e.error ?? e.message)));
    assert.equal((await k.client.health()).status, 'ok');
});
