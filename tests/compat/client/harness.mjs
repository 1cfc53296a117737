// The harness of the Letta client suite: a scripted fake LLM (in-process) and a `kelpie serve`
// (a child process on a free loopback port, embedded RocksDB in a fresh directory) pointed at it,
// and the real `@letta-ai/letta-client` pointed at the server. stop() ends exactly the process it
// started (SIGTERM by PID, SIGKILL after a deadline) and removes the directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Letta from '@letta-ai/letta-client';
import { startFakeLlm } from '../fake-llm.mjs';

const start_deadline_ms = 10000;
const stop_deadline_ms = 10000;

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

export async function startKelpie() {
    const kelpie = process.env.KELPIE_BIN;
    if (!kelpie) throw new Error('KELPIE_BIN must name the kelpie binary');
    const fake = await startFakeLlm({ port: 0 });
    const dir = mkdtempSync(path.join(tmpdir(), 'kelpie-compat-'));
    const port = await free_port();
    const log = [];
    const child = spawn(kelpie, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir], {
        env: {
            ...process.env,
            OPENAI_BASE_URL: `http://127.0.0.1:${fake.port}/v1`, OPENAI_API_KEY: 'fake-key',
            ANTHROPIC_BASE_URL: `http://127.0.0.1:${fake.port}`, ANTHROPIC_API_KEY: 'fake-key',
            KELPIE_DEFAULT_MODEL: 'openai/gpt-4o-mini',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => log.push(String(d)));
    child.stderr.on('data', (d) => log.push(String(d)));
    const baseURL = `http://127.0.0.1:${port}`;
    const end = Date.now() + start_deadline_ms;
    for (;;) {
        const ok = await fetch(`${baseURL}/v1/health/`).then((r) => r.ok, () => false);
        if (ok) break;
        if (child.exitCode !== null || Date.now() > end) {
            child.kill('SIGKILL');
            await fake.close();
            rmSync(dir, { recursive: true, force: true });
            throw new Error(`kelpie did not start:\n${log.join('')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    const fake_url = `http://127.0.0.1:${fake.port}`;
    const control = async (method, p, body) => {
        const r = await fetch(`${fake_url}${p}`, {
            method, headers: { 'content-type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return r.json();
    };
    return {
        baseURL,
        log,
        client: new Letta({ baseURL, apiKey: 'test', maxRetries: 0, timeout: 15000 }),
        fake: {
            reset: () => control('POST', '/__fake/reset'),
            queue: (responses) => control('POST', '/__fake/queue', { responses }),
            requests: () => control('GET', '/__fake/requests'),
            release: (name) => control('POST', '/__fake/release', { name }),
        },
        // A raw request (for what the SDK will not send: malformed bodies, odd paths).
        raw: (method, p, body, headers = {}) => fetch(`${baseURL}${p}`, {
            method, headers: { 'content-type': 'application/json', ...headers }, body,
        }),
        async stop() {
            if (child.exitCode === null) {
                const exited = new Promise((r) => child.once('exit', r));
                child.kill('SIGTERM');
                const timer = setTimeout(() => child.kill('SIGKILL'), stop_deadline_ms);
                await exited;
                clearTimeout(timer);
            }
            await fake.close();
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

// Collects every chunk of an SDK stream.
export async function collect(stream) {
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
}
