// The official `openai` npm client against `bitnet serve`: chat (whole and
// streamed) and completions. Prints one result line; exits non-zero on failure.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const openaiVersion = JSON.parse(readFileSync(new URL('./node_modules/openai/package.json', import.meta.url))).version;

const exe = process.env.BITNET_EXE;
const model = process.env.BITNET_MODEL;
if (!exe || !model) {
  console.error('set BITNET_EXE and BITNET_MODEL');
  process.exit(2);
}

const apiKey = 'sk-node-test';
const server = spawn(exe, ['serve', '-m', model, '--port', '0', '-t', '1', '--device', 'cpu', '-c', '512',
                           '--api-key', apiKey, '--alias', 'tiny'], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no listening line within 20 s:\n' + stderr)), 20000);
  server.stderr.on('data', (d) => {
    stderr += d;
    const m = stderr.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  });
  server.on('exit', (code) => reject(new Error(`bitnet serve exited with ${code}:\n${stderr}`)));
});

async function waitReady(baseURL) {
  for (let i = 0; i < 400; ++i) {
    const r = await fetch(`${baseURL}/health`).catch(() => null);
    if (r && r.status === 200) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('server never became ready');
}

let failed = false;
try {
  const root = `http://127.0.0.1:${port}`;
  await waitReady(root);
  const client = new OpenAI({ baseURL: `${root}/v1`, apiKey, maxRetries: 0, timeout: 30000 });
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }];

  const models = await client.models.list();
  assert.equal(models.data[0].id, 'tiny');

  const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 6, temperature: 0, seed: 1 });
  assert.match(whole.id, /^chatcmpl-/);
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(typeof whole.choices[0].message.content, 'string');
  assert.equal(whole.choices[0].finish_reason, 'length');
  assert.equal(whole.usage.completion_tokens, 6);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + 6);

  const stream = await client.chat.completions.create({
    model: 'tiny', messages, max_tokens: 6, temperature: 0, seed: 1, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    text += chunk.choices[0].delta.content ?? '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(chunks >= 3, `only ${chunks} chunks`);
  assert.equal(text, whole.choices[0].message.content, 'streamed text equals the whole reply');
  assert.equal(finish, 'length');
  assert.deepEqual(usage, whole.usage);

  const completion = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(completion.object, 'text_completion');
  assert.equal(typeof completion.choices[0].text, 'string');
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, 5);

  // A stop string cut from the reply itself ends it with finish_reason "stop".
  const full = completion.choices[0].text;
  if (full.length >= 4) {
    const stop = full.slice(2, 4);
    const stopped = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stop: [stop] });
    assert.equal(stopped.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(stopped.choices[0].finish_reason, 'stop');
  }

  // The client surfaces the server's error objects as typed errors.
  await assert.rejects(client.chat.completions.create({ model: 'tiny', messages, n: 2 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
  const anonymous = new OpenAI({ baseURL: `${root}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(anonymous.models.list(), (e) => e instanceof OpenAI.AuthenticationError);

  console.log(`PASS openai ${openaiVersion} client: chat whole + streamed (${chunks} chunks), completions, stop, errors`);
} catch (e) {
  failed = true;
  console.log(`FAIL openai client test: ${e.stack ?? e}\n--- bitnet serve stderr ---\n${stderr}`);
} finally {
  const exited = server.exitCode !== null || server.signalCode !== null
    ? Promise.resolve(server.exitCode)
    : new Promise((res) => server.on('exit', (c) => res(c)));
  server.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((res) => setTimeout(() => res('no exit within 10 s'), 10000))]);
  if (code !== 0 && !failed) {
    failed = true;
    console.log(`FAIL bitnet serve exited with ${code} after SIGTERM`);
  }
}
process.exit(failed ? 1 : 0);
