// Goal: a `kelpie serve` killed with SIGKILL in the middle of a multi-step agent turn finishes the
// turn after it restarts on the same data directory, with nobody calling again: the step that
// completed before the kill is not repeated (the fake LLM's log shows one call for it), and the
// history holds each message once with every tool call answered.
// Method: the scripted fake LLM in-process (fake-llm.mjs); step 1 answers with a memory_insert
// tool call, step 2's request is held by the fake. While it is held (so step 1 is committed and
// step 2 is in flight) the server is killed by the PID this test started; the fake is told what
// step 2 answers now, and the server restarts. Everything binds 127.0.0.1 with free ports; the
// test stops exactly the processes it started.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startFakeLlm } from '../fake-llm.mjs';

const kelpie = process.env.KELPIE_BIN;
const deadline_ms = 20000;

function free_port() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
        s.on('error', reject);
    });
}

async function until(what, f) {
    const end = Date.now() + deadline_ms;
    for (;;) {
        const v = await f().catch(() => undefined);
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

function start_server(port, dir, fake_port, log) {
    const child = spawn(kelpie, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir], {
        env: { ...process.env, OPENAI_BASE_URL: `http://127.0.0.1:${fake_port}/v1`, OPENAI_API_KEY: 'test',
               KELPIE_DEFAULT_MODEL: 'openai/gpt-4o-mini' },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => log.push(String(d)));
    child.stderr.on('data', (d) => log.push(String(d)));
    return child;
}

async function json(url, options = {}) {
    const r = await fetch(url, { ...options, headers: { 'content-type': 'application/json' } });
    const body = await r.json();
    if (!r.ok) throw new Error(`${r.status} ${JSON.stringify(body)}`);
    return body;
}

test('a turn cut by SIGKILL finishes after the restart without repeating a completed step', { skip: !kelpie }, async (t) => {
    const fake = await startFakeLlm({ port: 0 });
    const dir = mkdtempSync(path.join(tmpdir(), 'kelpie-crash-'));
    const port = await free_port();
    const base = `http://127.0.0.1:${port}/v1`;
    const fake_url = `http://127.0.0.1:${fake.port}`;
    const log = [];
    let server = start_server(port, dir, fake.port, log);
    t.after(async () => {
        for (const c of [server]) if (c.exitCode === null) c.kill('SIGKILL');
        await fake.close();
        rmSync(dir, { recursive: true, force: true });
    });
    try {
        await until('the server', async () => (await fetch(`${base}/health/`)).ok);
        const agent = await json(`${base}/agents/`, {
            method: 'POST',
            body: JSON.stringify({ memory_blocks: [{ label: 'human', value: 'Name: Bob' }] }),
        });
        await json(`${fake_url}/__fake/queue`, {
            method: 'POST',
            body: JSON.stringify({ responses: [
                { tool: 'memory_insert', args: { label: 'human', new_string: 'Likes tea' } },
                { text: 'never delivered', hold: 'step2' },
            ] }),
        });
        // The send's HTTP connection dies with the server; its outcome is checked in the history.
        const send = fetch(`${base}/agents/${agent.id}/messages`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ messages: [{ role: 'user', content: 'remember tea', otid: 'otid-crash-1' }] }),
        }).catch(() => 'connection lost');
        await until('step 2 held by the fake', async () =>
            (await json(`${fake_url}/__fake/held`)).held.includes('step2'));

        server.kill('SIGKILL');
        await new Promise((r) => server.once('exit', r));
        assert.equal(await send, 'connection lost');
        await json(`${fake_url}/__fake/queue`, {
            method: 'POST', body: JSON.stringify({ responses: [{ text: 'Noted: tea.' }] }),
        });
        server = start_server(port, dir, fake.port, log);
        await until('the restarted server', async () => (await fetch(`${base}/health/`)).ok);

        // Nobody calls the agent: the recovery sweep finishes the turn.
        const history = await until('the turn to finish', async () => {
            const h = await json(`${base}/agents/${agent.id}/messages?limit=50`);
            return h.some((m) => m.message_type === 'assistant_message') ? h : undefined;
        });
        assert.deepEqual(history.map((m) => m.message_type),
            ['system_message', 'user_message', 'tool_call_message', 'tool_return_message', 'assistant_message']);
        assert.equal(history[1].otid, 'otid-crash-1');
        assert.equal(history[4].content, 'Noted: tea.');
        const call = history[2].tool_calls[0];
        assert.equal(history[3].tool_call_id, call.tool_call_id);
        assert.equal(history[3].status, 'success');

        // The fake saw step 1 once, step 2 twice (the held call, then the resumed one), and the
        // resumed call carried step 1's results: the edited memory and the tool's return.
        const requests = await json(`${fake_url}/__fake/requests`);
        const chats = requests.filter((r) => r.provider === 'openai');
        assert.equal(chats.length, 3, JSON.stringify(chats.map((r) => r.body.messages.length)));
        assert.equal(chats[0].body.messages.at(-1).role, 'user');
        assert.equal(chats[1].body.messages.at(-1).role, 'tool');
        assert.equal(chats[2].body.messages.at(-1).role, 'tool');
        assert.deepEqual(chats[2].body.messages.slice(1), chats[1].body.messages.slice(1));
        assert.match(chats[2].body.messages[0].content, /Name: Bob\nLikes tea/);

        const block = await json(`${base}/agents/${agent.id}/core-memory/blocks/human`);
        assert.equal(block.value, 'Name: Bob\nLikes tea');
        const runs = await json(`${base}/runs/?agent_id=${agent.id}`);
        assert.equal(runs.length, 1);
        assert.equal(runs[0].status, 'completed');
    } catch (e) {
        console.error(log.join(''));
        throw e;
    }
});
