// Goal: letta-code 0.25.9, run headless as a user runs it (`letta -p … --new-agent -m … --output-format
// json`), works against kelpie serve unchanged: a plain prompt returns the model's answer, and a
// prompt that makes the model call letta-code's client-side Bash tool goes through the approval
// protocol — letta-code runs the command and sends its output back, and the model sees it.
// Method: kelpie serve + the fake LLM (../client/harness.mjs); letta-code with its own HOME and
// working directory in a temp dir, stdin closed, a deadline; its JSON result and the fake's
// request log are checked.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, test } from 'node:test';
import { startKelpie } from '../client/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const letta = path.join(here, 'node_modules', '.bin', 'letta');
const run_deadline_ms = 60000;

let k;
let scratch;
before(async () => {
    k = await startKelpie();
    scratch = mkdtempSync(path.join(tmpdir(), 'kelpie-letta-code-'));
});
after(async () => {
    await k.stop();
    rmSync(scratch, { recursive: true, force: true });
});
beforeEach(async () => { await k.fake.reset(); });

function run_letta(prompt) {
    const home = mkdtempSync(path.join(scratch, 'home-'));
    const cwd = mkdtempSync(path.join(scratch, 'work-'));
    return new Promise((resolve, reject) => {
        const child = spawn(letta, ['-p', prompt, '--new-agent', '-m', 'openai/gpt-4o-mini', '--output-format', 'json', '--yolo'], {
            cwd,
            env: { ...process.env, HOME: home, LETTA_BASE_URL: k.baseURL, LETTA_API_KEY: 'test',
                   LETTA_CODE_TELEM: '0', DISABLE_AUTOUPDATER: '1' },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => { out += d; });
        child.stderr.on('data', (d) => { err += d; });
        const timer = setTimeout(() => child.kill('SIGKILL'), run_deadline_ms);
        child.on('error', reject);
        child.on('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, out, err });
        });
    });
}

function result_of(run) {
    assert.equal(run.code, 0, `letta exited ${run.code}\nstdout: ${run.out}\nstderr: ${run.err}\nserver: ${k.log.join('')}`);
    const result = JSON.parse(run.out.slice(run.out.indexOf('{')));
    assert.equal(result.type, 'result');
    assert.equal(result.is_error, false, run.out);
    return result;
}

test('a plain prompt', async () => {
    const result = result_of(await run_letta('hello from letta code'));
    assert.match(result.result, /^ECHO: [\s\S]*hello from letta code$/);
    assert.match(result.agent_id, /^agent-/);
    const agent = await k.client.agents.retrieve(result.agent_id);
    assert.equal(agent.name, 'Letta Code');
});

test('a client-side tool through the approval protocol', async () => {
    // letta-code picks its toolset by model; find its shell tool in what it offered on a plain run.
    result_of(await run_letta('which tools do you have'));
    const offered = (await k.fake.requests())[0].body.tools.map((t) => t.function);
    const shell = offered.find((f) => ['Bash', 'ShellCommand', 'shell_command', 'run_shell_command'].includes(f.name));
    assert.ok(shell, `no shell tool among ${offered.map((f) => f.name)}`);
    const required = shell.parameters.required ?? [];
    const args = {};
    for (const name of required) args[name] = name === 'command' ? 'echo hi-from-bash' : 'say hi';
    if (!('command' in args)) args.command = 'echo hi-from-bash';
    if (shell.parameters.properties?.command?.type === 'array') args.command = ['bash', '-lc', 'echo hi-from-bash'];

    await k.fake.reset();
    await k.fake.queue([{ tool: shell.name, args }]);
    const result = result_of(await run_letta('run the greeting command'));
    assert.equal(result.result, 'DONE');
    const chats = (await k.fake.requests()).filter((r) => r.provider === 'openai');
    assert.equal(chats.length, 2);
    const toolResult = chats[1].body.messages.at(-1);
    assert.equal(toolResult.role, 'tool');
    assert.match(JSON.parse(toolResult.content).message, /hi-from-bash/);
    const history = await k.client.agents.messages.list(result.agent_id, { limit: 50 });
    const types = history.items.map((m) => m.message_type);
    assert.ok(types.includes('approval_request_message'), types.join(','));
    assert.ok(types.includes('tool_return_message'), types.join(','));
});
