// Goal: bad input gets a clear 4xx with a `detail` and never stops the server: malformed JSON,
// invalid UTF-8, wrong types, an oversized body, malformed and unknown ids, unknown paths; and the
// SDK surfaces them as its typed errors (NotFoundError, UnprocessableEntityError, ConflictError).
// Method: raw requests for what the SDK would not send, the SDK for the rest; a health check
// after each.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startKelpie } from './harness.mjs';

let k;
before(async () => { k = await startKelpie(); });
after(async () => { await k.stop(); });

async function expectError(response, status) {
    assert.equal(response.status, status);
    const body = await response.json();
    assert.equal(typeof body.detail, 'string');
    assert.ok(body.detail.length > 0);
    assert.equal((await k.client.health()).status, 'ok');
    return body.detail;
}

test('malformed bodies', async () => {
    await expectError(await k.raw('POST', '/v1/agents/', '{"name": '), 422);
    await expectError(await k.raw('POST', '/v1/agents/', Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 422);
    await expectError(await k.raw('POST', '/v1/agents/', '{"name": 12}'), 422);
    await expectError(await k.raw('POST', '/v1/agents/', '{"memory_blocks": [{"label": 5}]}'), 422);
    await expectError(await k.raw('POST', '/v1/agents/', '[1,2,3]'), 422);
    const huge = JSON.stringify({ name: 'x'.repeat(17 * 1024 * 1024) });
    const r = await k.raw('POST', '/v1/agents/', huge).catch(() => null);
    if (r !== null) await expectError(r, 413);   // the server may also cut the connection
    assert.equal((await k.client.health()).status, 'ok');
});

test('ids and paths', async () => {
    await expectError(await k.raw('GET', '/v1/agents/agent-00000000-0000-4000-8000-000000000000'), 404);
    await expectError(await k.raw('GET', '/v1/agents/not-an-agent-id'), 422);
    await expectError(await k.raw('GET', '/v1/blocks/block-00000000-0000-4000-8000-000000000000'), 404);
    await expectError(await k.raw('GET', '/v1/runs/run-00000000-0000-4000-8000-000000000000'), 404);
    await expectError(await k.raw('GET', '/v1/no/such/route'), 404);
    await assert.rejects(k.client.agents.retrieve('agent-00000000-0000-4000-8000-000000000000'),
        (e) => e.constructor.name === 'NotFoundError');
});

test('message sends with bad bodies', async () => {
    const agent = await k.client.agents.create({});
    const send = (body) => k.raw('POST', `/v1/agents/${agent.id}/messages`, JSON.stringify(body));
    await expectError(await send({}), 422);                                     // neither messages nor input
    await expectError(await send({ input: 'a', messages: [] }), 422);           // both
    await expectError(await send({ messages: [] }), 422);
    await expectError(await send({ messages: [{ role: 'user', content: 7 }] }), 422);
    await expectError(await send({ messages: [{ role: 'wizard', content: 'x' }] }), 422);
    await expectError(await send({ input: 'x', max_steps: 0 }), 422);
    await expectError(await send({ input: 'x', stream_tokens: true }), 422);    // tokens need streaming
    await expectError(await k.raw('GET', `/v1/agents/${agent.id}/messages?limit=abc`), 422);
    await expectError(await k.raw('GET', `/v1/agents/${agent.id}/messages?after=message-00000000-0000-4000-8000-000000000000`), 404);
    await assert.rejects(k.client.agents.messages.create(agent.id, { messages: [] }),
        (e) => e.constructor.name === 'UnprocessableEntityError');
    // Unknown fields are ignored.
    const ok = await send({ input: 'fine', client_skills: [{ name: 's' }], include_compaction_messages: true });
    assert.equal(ok.status, 200);
});
