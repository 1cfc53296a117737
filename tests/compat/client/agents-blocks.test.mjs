// Goal: the real @letta-ai/letta-client 1.12.1 manages agents, their core memory blocks,
// standalone blocks, tools and models on kelpie serve as on Letta: create (blocks, tool names,
// unknown tool names ignored, tags, model handle), retrieve with include, list with filters and
// auto-pagination that terminates, update, delete then 404; blocks by label with their limit
// enforced (422); shared blocks attached and detached.
// Method: one kelpie serve + fake LLM per file (harness.mjs); the SDK with maxRetries 0.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startKelpie } from './harness.mjs';

let k;
before(async () => { k = await startKelpie(); });
after(async () => { await k.stop(); });

test('health, models and base tools', async () => {
    const health = await k.client.health();
    assert.equal(health.status, 'ok');
    const models = await k.client.models.list();
    assert.ok(models.some((m) => m.handle === 'openai/gpt-4o-mini'), JSON.stringify(models));
    const r = await k.raw('POST', '/v1/tools/add-base-tools');
    assert.equal(r.status, 200);
    const names = (await r.json()).map((t) => t.name);
    for (const n of ['memory_insert', 'memory_replace', 'conversation_search', 'send_message']) {
        assert.ok(names.includes(n), n);
    }
});

test('agent lifecycle', async () => {
    const agent = await k.client.agents.create({
        name: 'lifecycle-agent',
        memory_blocks: [{ label: 'human', value: 'Name: Ada' }, { label: 'persona', value: 'curious', limit: 500 }],
        tools: ['web_search', 'fetch_webpage'],   // unknown here: ignored, as letta-code needs
        tags: ['compat', 'one'],
        model: 'openai/gpt-4o-mini',
        context_window_limit: 64000,
        some_future_field: { ignored: true },
    });
    assert.match(agent.id, /^agent-[0-9a-f-]{36}$/);
    assert.equal(agent.agent_type, 'letta_v1_agent');
    assert.equal(agent.model, 'openai/gpt-4o-mini');
    assert.equal(agent.llm_config.model, 'gpt-4o-mini');
    assert.equal(agent.llm_config.context_window, 64000);
    assert.deepEqual(agent.blocks.map((b) => b.label), ['human', 'persona']);
    assert.equal(agent.blocks[0].limit, 100000);
    assert.deepEqual(agent.tools.map((t) => t.name).sort(), ['conversation_search', 'memory_insert', 'memory_replace']);
    assert.deepEqual(agent.tags, ['compat', 'one']);

    const got = await k.client.agents.retrieve(agent.id, { include: ['agent.blocks', 'agent.tools', 'agent.tags'] });
    assert.equal(got.name, 'lifecycle-agent');
    assert.equal(got.blocks[0].value, 'Name: Ada');

    const updated = await k.client.agents.update(agent.id, { name: 'renamed', description: 'd', tags: ['compat', 'two'] });
    assert.equal(updated.name, 'renamed');
    assert.equal(updated.description, 'd');

    const byName = await k.client.agents.list({ name: 'renamed' });
    assert.deepEqual(byName.items.map((a) => a.id), [agent.id]);
    const byTag = await k.client.agents.list({ tags: ['two'] });
    assert.deepEqual(byTag.items.map((a) => a.id), [agent.id]);

    await k.client.agents.delete(agent.id);
    await assert.rejects(k.client.agents.retrieve(agent.id), (e) => e.status === 404 && /not found/i.test(e.error.detail));
});

test('auto-pagination over agents terminates and sees each agent once', async () => {
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push((await k.client.agents.create({ name: `page-${i}`, tags: ['paging'] })).id);
    const seen = [];
    for await (const a of k.client.agents.list({ tags: ['paging'], limit: 3 })) seen.push(a.id);
    assert.equal(seen.length, 7);
    assert.deepEqual([...seen].sort(), [...ids].sort());
    const asc = [];
    for await (const a of k.client.agents.list({ tags: ['paging'], limit: 2, order: 'asc' })) asc.push(a.id);
    assert.deepEqual(asc, [...seen].reverse());
    const first = await k.client.agents.list({ limit: 1 });   // letta-code's connectivity check
    assert.equal(first.items.length, 1);
});

test('core memory blocks by label, limits enforced', async () => {
    const agent = await k.client.agents.create({ memory_blocks: [{ label: 'human', value: 'Bob', limit: 20 }] });
    const blocks = [];
    for await (const b of k.client.agents.blocks.list(agent.id)) blocks.push(b);
    assert.deepEqual(blocks.map((b) => b.label), ['human']);
    const human = await k.client.agents.blocks.retrieve('human', { agent_id: agent.id });
    assert.equal(human.value, 'Bob');
    const edited = await k.client.agents.blocks.update('human', { agent_id: agent.id, value: 'Bob, likes tea' });
    assert.equal(edited.value, 'Bob, likes tea');
    await assert.rejects(
        k.client.agents.blocks.update('human', { agent_id: agent.id, value: 'x'.repeat(21) }),
        (e) => e.status === 422 && typeof e.error.detail === 'string');
    await assert.rejects(k.client.agents.blocks.retrieve('nope', { agent_id: agent.id }), (e) => e.status === 404);
    await assert.rejects(k.client.agents.create({ memory_blocks: [{ label: 'a', value: 'too long', limit: 3 }] }),
        (e) => e.status === 422);
});

test('standalone blocks: create, list by label, update, attach, detach, delete', async () => {
    const block = await k.client.blocks.create({ label: 'shared-notes', value: 'v1', description: 'shared' });
    assert.match(block.id, /^block-/);
    assert.equal(block.limit, 100000);
    const listed = await k.client.blocks.list({ label: 'shared-notes' });
    assert.deepEqual(listed.items.map((b) => b.id), [block.id]);
    const a = await k.client.agents.create({});
    const b = await k.client.agents.create({});
    const withBlock = await k.client.agents.blocks.attach(block.id, { agent_id: a.id });
    assert.ok(withBlock.blocks.some((x) => x.id === block.id));
    await k.client.agents.blocks.attach(block.id, { agent_id: b.id });
    await k.client.blocks.update(block.id, { value: 'v2' });
    // Both agents see the shared block's new value.
    for (const id of [a.id, b.id]) {
        const shared = await k.client.agents.blocks.retrieve('shared-notes', { agent_id: id });
        assert.equal(shared.value, 'v2');
    }
    const without = await k.client.agents.blocks.detach(block.id, { agent_id: a.id });
    assert.ok(!without.blocks.some((x) => x.id === block.id));
    await assert.rejects(k.client.blocks.update(block.id, { value: 'abcd', limit: 2 }), (e) => e.status === 422);
    await k.client.blocks.delete(block.id);
    await assert.rejects(k.client.blocks.retrieve(block.id), (e) => e.status === 404);
});

test('tools attach and detach', async () => {
    const tools = await k.client.tools.list({ name: 'send_message' });
    assert.equal(tools.items.length, 1);
    const sendMessage = tools.items[0];
    const agent = await k.client.agents.create({});
    const attached = await k.client.agents.tools.attach(sendMessage.id, { agent_id: agent.id });
    assert.ok(attached.tools.some((t) => t.name === 'send_message'));
    const detached = await k.client.agents.tools.detach(sendMessage.id, { agent_id: agent.id });
    assert.ok(!detached.tools.some((t) => t.name === 'send_message'));
    const listed = [];
    for await (const t of k.client.agents.tools.list(agent.id)) listed.push(t.name);
    assert.deepEqual(listed.sort(), ['conversation_search', 'memory_insert', 'memory_replace']);
});
