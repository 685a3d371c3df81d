// selftest.mjs — proves the harness works: starts stack.mjs, drives the official facilitator with
// payloads from lib.mjs (v2 and v1), checks on-chain effects, concurrency (nonce manager), the
// injected failure modes, verify concurrency stats and per-endpoint delays, the test origin (HTTP and
// WebSocket, via ws.mjs), pay.mjs/sign.mjs against a tiny reference paywall, and that shutdown leaves
// no anvil behind. Prints "N passed, M failed"; exit 1 on any failure.
// Usage: node selftest.mjs
import { spawn, execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { authorizationState, decodeHeader, encodeHeader, signPayment, sleep, usdcBalance } from './lib.mjs';

const here = (f) => fileURLToPath(new URL(f, import.meta.url));
let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? ` — ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
}
const post = async (url, body) => {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
};
const newAddress = () => privateKeyToAccount(generatePrivateKey()).address;

// ---------- start the stack ----------
const stack = spawn(process.execPath, [here('./stack.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
const line = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: stack.stdout });
  rl.once('line', resolve);
  stack.once('exit', (c) => reject(new Error(`stack.mjs exited with ${c}`)));
  setTimeout(() => reject(new Error('stack.mjs: no ready line in 30 s')), 30000);
});
const S = JSON.parse(line);
const { facilitator: F, origin: O, rpc, usdc } = S;
check('stack ready line has all fields', ['rpc', 'chainId', 'usdc', 'facilitator', 'origin', 'facilitatorAddress', 'payers'].every((k) => k in S) && S.payers.length === 8);

const v2req = (payTo, amount = '1000') => ({ scheme: 'exact', network: 'eip155:84532', amount, asset: usdc, payTo,
  maxTimeoutSeconds: 300, extra: { name: 'USDC', version: '2' } });
const v1req = (payTo, amount = '1000') => ({ scheme: 'exact', network: 'base-sepolia', maxAmountRequired: amount,
  resource: 'http://127.0.0.1/paid', description: 'selftest', mimeType: 'application/json', payTo,
  maxTimeoutSeconds: 300, asset: usdc, extra: { name: 'USDC', version: '2' } });
const body = (signed, requirement) => ({ x402Version: signed.payload.x402Version, paymentPayload: signed.payload, paymentRequirements: requirement });
const stats = async () => (await fetch(`${F}/__stats`)).json();

try {
  // ---------- /supported ----------
  const sup = await (await fetch(`${F}/supported`)).json();
  check('/supported lists v2 exact eip155:84532', sup.kinds.some((k) => k.x402Version === 2 && k.scheme === 'exact' && k.network === 'eip155:84532'));
  check('/supported lists v1 exact base-sepolia', sup.kinds.some((k) => k.x402Version === 1 && k.scheme === 'exact' && k.network === 'base-sepolia'));
  check('/supported signers has facilitator address', sup.signers?.['eip155:*']?.includes(S.facilitatorAddress));

  // ---------- v2 and v1 verify + settle ----------
  for (const [version, mk, payer] of [[2, v2req, S.payers[0]], [1, v1req, S.payers[1]]]) {
    const payTo = newAddress();
    const req = mk(payTo);
    const signed = await signPayment({ version, key: payer.privateKey, requirement: req,
      resource: version === 2 ? { url: 'http://127.0.0.1/paid', description: '', mimeType: '' } : undefined });
    check(`v${version} header name`, signed.header === (version === 2 ? 'PAYMENT-SIGNATURE' : 'X-PAYMENT'));
    check(`v${version} header decodes to payload`, JSON.stringify(decodeHeader(signed.value)) === JSON.stringify(signed.payload));
    const v = await post(`${F}/verify`, body(signed, req));
    check(`v${version} /verify isValid`, v.status === 200 && v.json.isValid === true && v.json.payer === payer.address, v.json);
    const s = await post(`${F}/settle`, body(signed, req));
    check(`v${version} /settle success + tx hash`, s.status === 200 && s.json.success === true && /^0x[0-9a-f]{64}$/.test(s.json.transaction)
      && s.json.network === req.network, s.json);
    check(`v${version} payTo balance is 1000`, (await usdcBalance(rpc, payTo)) === 1000n);
    const { from, nonce } = signed.payload.payload.authorization;
    check(`v${version} authorizationState(from, nonce) true`, (await authorizationState(rpc, from, nonce)) === true);
    const again = await post(`${F}/settle`, body(signed, req));
    check(`v${version} replayed settle fails`, again.json.success === false, again.json);
  }

  // ---------- adversarial: overridden value is rejected ----------
  {
    const req = v2req(newAddress());
    const signed = await signPayment({ version: 2, key: S.payers[2].privateKey, requirement: req, o: { value: '999' } });
    const v = await post(`${F}/verify`, body(signed, req));
    check('v2 wrong value → isValid false', v.json.isValid === false, v.json);
    console.log(`     (invalidReason: ${v.json.invalidReason})`);
  }

  // ---------- concurrency: 5 settles at once (nonce manager) ----------
  {
    const payTo = newAddress();
    const jobs = S.payers.slice(2, 7).map(async (p) => {
      const req = v2req(payTo);
      const signed = await signPayment({ version: 2, key: p.privateKey, requirement: req });
      return (await post(`${F}/settle`, body(signed, req))).json;
    });
    const results = await Promise.all(jobs);
    check('5 concurrent settles all succeed', results.every((r) => r.success === true), results.filter((r) => !r.success));
    check('5 concurrent settles have distinct tx', new Set(results.map((r) => r.transaction)).size === 5);
    check('payTo got 5000', (await usdcBalance(rpc, payTo)) === 5000n);
  }

  // ---------- injected settle failures ----------
  const fresh = async (payer = S.payers[7]) => {
    const payTo = newAddress();
    const req = v2req(payTo);
    return { payTo, req, signed: await signPayment({ version: 2, key: payer.privateKey, requirement: req }) };
  };
  {
    const { payTo, req, signed } = await fresh();
    await post(`${F}/__fail-settle`, { count: 1, mode: 'error' });
    const before = await stats();
    const s = await post(`${F}/settle`, body(signed, req));
    check('fail mode error → 200 success:false injected_failure', s.status === 200 && s.json.success === false
      && s.json.errorReason === 'injected_failure' && s.json.transaction === '' && s.json.network === 'eip155:84532'
      && s.json.payer === S.payers[7].address, s);
    check('fail mode error did not touch the chain', (await usdcBalance(rpc, payTo)) === 0n
      && !(await authorizationState(rpc, signed.payload.payload.authorization.from, signed.payload.payload.authorization.nonce)));
    check('/__stats counts settles', (await stats()).settle === before.settle + 1);
    const s2 = await post(`${F}/settle`, body(signed, req));
    check('after count exhausted, settle is real', s2.json.success === true && (await usdcBalance(rpc, payTo)) === 1000n, s2.json);
  }
  {
    const { payTo, req, signed } = await fresh();
    await post(`${F}/__fail-settle`, { count: 1, mode: 'http500' });
    const s = await post(`${F}/settle`, body(signed, req));
    check('fail mode http500 → 500 {"error":"injected"}', s.status === 500 && s.json.error === 'injected', s);
    check('fail mode http500 did not touch the chain', (await usdcBalance(rpc, payTo)) === 0n);
  }
  {
    const { payTo, req, signed } = await fresh();
    await post(`${F}/__fail-settle`, { count: 1, mode: 'pending' });
    const s = await post(`${F}/settle`, body(signed, req));
    check('fail mode pending → 500 settlement_pending with tx', s.status === 500 && s.json.success === false
      && s.json.errorReason === 'settlement_pending' && /^0x[0-9a-f]{64}$/.test(s.json.transaction) && s.json.network === 'eip155:84532', s);
    check('pending: nothing on chain yet', (await usdcBalance(rpc, payTo)) === 0n);
    const s2 = await post(`${F}/settle`, body(signed, req));
    check('pending: identical retry settles for real', s2.status === 200 && s2.json.success === true && (await usdcBalance(rpc, payTo)) === 1000n, s2);
  }
  {
    const missing = await post(`${F}/verify`, { x402Version: 2, paymentPayload: {} });
    check('missing field → 400 {error}', missing.status === 400 && typeof missing.json.error === 'string', missing);
    const bad = await post(`${F}/verify`, { x402Version: 2, paymentPayload: { x402Version: 7 }, paymentRequirements: v2req(newAddress()) });
    check('exception → 500 {error}', bad.status === 500 && typeof bad.json.error === 'string', bad);
    await post(`${F}/__delay`, { ms: 300 });
    const t = Date.now();
    await fetch(`${F}/supported`);
    check('/__delay delays responses', Date.now() - t >= 290);
    await post(`${F}/__delay`, { ms: 0 });
  }
  {
    const { payTo, req, signed } = await fresh();
    await post(`${F}/__fail-settle`, { count: 1, mode: 'settle-then-502' });
    const r = await fetch(`${F}/settle`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body(signed, req)) });
    const text = await r.text();
    check('fail mode settle-then-502 → 502 "bad gateway" (not JSON)', r.status === 502 && text === 'bad gateway'
      && !r.headers.get('content-type')?.includes('json'), { status: r.status, text });
    const { from, nonce } = signed.payload.payload.authorization;
    check('settle-then-502 settled on chain', (await usdcBalance(rpc, payTo)) === 1000n && (await authorizationState(rpc, from, nonce)) === true);
  }
  {
    const { payTo, req, signed } = await fresh();
    await post(`${F}/__fail-settle`, { count: 1, mode: 'settle-then-hang', hangMs: 1500 });
    const t = Date.now();
    const pending = post(`${F}/settle`, body(signed, req));
    const landed = await Promise.race([(async () => { while ((await usdcBalance(rpc, payTo)) !== 1000n) await sleep(50); return true; })(),
      sleep(1400).then(() => false)]);
    check('settle-then-hang settles on chain before answering', landed === true);
    const s = await pending;
    check('settle-then-hang answers 200 with the real result after hangMs', s.status === 200 && s.json.success === true
      && /^0x[0-9a-f]{64}$/.test(s.json.transaction) && Date.now() - t >= 1490, { s, ms: Date.now() - t });
    const bad = await post(`${F}/__fail-settle`, { count: 1, mode: 'nonsense' });
    check('unknown fail mode → 400', bad.status === 400, bad);
    await post(`${F}/__fail-settle`, { count: 0 });
  }
  {
    // verify concurrency stats and a verify-only delay
    await post(`${F}/__delay`, { ms: 300, only: 'verify' });
    let t = Date.now();
    await fetch(`${F}/supported`);
    check('/__delay only:verify leaves /supported alone', Date.now() - t < 250);
    const reset = await post(`${F}/__reset-stats`, {});
    check('/__reset-stats zeroes the counters', reset.status === 200 && reset.json.verify === 0 && reset.json.settle === 0
      && reset.json.maxVerifyInFlight === 0 && reset.json.verifyInFlight === 0, reset);
    const jobs = [];
    for (let i = 0; i < 3; i++) {
      const { req, signed } = await fresh(S.payers[i]);
      jobs.push({ req, signed });
    }
    t = Date.now();
    const results = await Promise.all(jobs.map(({ req, signed }) => post(`${F}/verify`, body(signed, req))));
    const st = await stats();
    check('3 concurrent delayed verifies are all valid and ≥300 ms', results.every((r) => r.json.isValid === true) && Date.now() - t >= 290, results);
    check('/__stats maxVerifyInFlight = 3, verifyInFlight back to 0', st.maxVerifyInFlight === 3 && st.verifyInFlight === 0 && st.verify === 3, st);
    const bad = await post(`${F}/__delay`, { ms: 1, only: 'everything' });
    check('/__delay with a bad `only` → 400', bad.status === 400, bad);
    await post(`${F}/__delay`, { ms: 0 });
    await post(`${F}/__reset-stats`, {});
  }
  {
    // a forged payment: signed by one key, `from` another payer
    const req = v2req(newAddress());
    const signed = await signPayment({ version: 2, key: S.payers[4].privateKey, requirement: req, o: { from: S.payers[5].address } });
    const v = await post(`${F}/verify`, body(signed, req));
    check('forged from (--from) → isValid false', signed.payload.payload.authorization.from === S.payers[5].address
      && v.json.isValid === false, v.json);
    console.log(`     (invalidReason: ${v.json.invalidReason})`);
  }

  // ---------- test origin ----------
  {
    const r1 = await fetch(`${O}/x/hello?a=1`, { headers: { 'X-Test': 'yes' } });
    const j1 = await r1.json();
    check('origin echoes path+method', r1.status === 200 && j1.ok === true && j1.path === '/x/hello?a=1' && j1.method === 'GET', j1);
    const r2 = await fetch(`${O}/x/post`, { method: 'POST', body: 'hello body' });
    check('origin echoes body', (await r2.json()).body === 'hello body');
    const r3 = await fetch(`${O}/x/status/500`);
    check('origin /status/500', r3.status === 500 && (await r3.json()).status === 500);
    const r4 = await fetch(`${O}/x/status/404/more`);
    check('origin /status/404/more', r4.status === 404);
    const t = Date.now();
    const r5 = await fetch(`${O}/x/stream`);
    const chunks = [];
    for await (const c of r5.body) chunks.push(Buffer.from(c).toString());
    check('origin /stream 5 chunks over ≥200 ms', chunks.join('') === 'chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n'
      && r5.headers.get('content-type') === 'text/plain' && Date.now() - t >= 190, chunks);
    const logs = await (await fetch(`${O}/__log?prefix=/x/`)).json();
    check('origin log records requests', logs.length === 5 && logs[0].headers['x-test'] === 'yes' && logs[1].body === 'hello body'
      && logs[0].path === '/x/hello?a=1', logs);
    const none = await (await fetch(`${O}/__log?prefix=/__log`)).json();
    check('origin does not record /__log', none.length === 0);

    // WebSocket: ws.mjs against the origin's echo, and a refused upgrade
    const ws = async (args) => JSON.parse((await promisify(execFile)(process.execPath, [here('./ws.mjs'), ...args], { cwd: here('.') })).stdout);
    const W = O.replace('http://', 'ws://');
    const e = await ws(['--url', `${W}/ws/echo?x=1`, '--header', 'X-Test: ws', '--message', 'hello ws']);
    check('ws.mjs: origin upgrades and echoes', e.status === 101 && e.opened === true && e.echoed === 'hello ws' && e.error === null
      && typeof e.headers['sec-websocket-accept'] === 'string', e);
    const refused = await ws(['--url', `${W}/ws/status/503/x`]);
    check('ws.mjs: /status/503 upgrade refused with 503 and its body', refused.status === 503 && refused.opened === false
      && JSON.parse(refused.body).status === 503 && refused.headers['content-type'] === 'application/json' && refused.error === null, refused);
    const dead = await ws(['--url', 'ws://127.0.0.1:1/x']);
    check('ws.mjs: connection refused → status 0 with an error', dead.status === 0 && typeof dead.error === 'string', dead);
    const wlog = await (await fetch(`${O}/__log?prefix=/ws/`)).json();
    check('origin records upgrades with upgrade: true', wlog.length === 2 && wlog.every((r) => r.upgrade === true && r.body === '')
      && wlog[0].path === '/ws/echo?x=1' && wlog[0].headers['x-test'] === 'ws' && wlog[0].headers.upgrade === 'websocket', wlog);
  }

  // ---------- official clients (pay.mjs) and sign.mjs CLI against a tiny reference paywall ----------
  await paywallTests();
} catch (e) {
  check('no exception', false, e?.stack || String(e));
}

// ---------- shutdown ----------
const port = new URL(rpc).port;
stack.stdin.end();
const code = await new Promise((r) => { stack.once('exit', r); setTimeout(() => r('timeout'), 10000); });
check('stack exits on stdin EOF', code === 0, String(code));
await sleep(200);
check('no anvil process left', !anvilRunning(port));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

function anvilRunning(p) {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((c) => c.endsWith('/anvil')) && cmd.includes(String(p))) return true;
    } catch { /* gone */ }
  }
  return false;
}

// A minimal x402 gateway stand-in: 402 with PAYMENT-REQUIRED (v2) + v1 JSON body; pays via the facilitator.
async function paywallTests() {
  const payTo = newAddress();
  const seen = [];
  const server = http.createServer(async (req, res) => {
    const url = `http://127.0.0.1:${server.address().port}${req.url}`;
    const v2 = v2req(payTo);
    const v1 = { ...v1req(payTo), resource: url };
    const sig = req.headers['payment-signature'];
    const xp = req.headers['x-payment'];
    seen.push({ sig: !!sig, xp: !!xp, headers: Object.keys(req.headers) });
    if (sig || xp) {
      const payload = decodeHeader(sig || xp);
      const requirement = payload.x402Version === 2 ? payload.accepted : v1;
      const b = { x402Version: payload.x402Version, paymentPayload: payload, paymentRequirements: requirement };
      const v = await post(`${F}/verify`, b);
      const s = v.json.isValid ? await post(`${F}/settle`, b) : null;
      if (!s?.json.success) { res.writeHead(402, { 'content-type': 'application/json' }); return res.end(JSON.stringify({ x402Version: 1, error: 'failed', accepts: [v1] })); }
      res.writeHead(200, { 'content-type': 'application/json', [sig ? 'PAYMENT-RESPONSE' : 'X-PAYMENT-RESPONSE']: encodeHeader(s.json) });
      return res.end(JSON.stringify({ paid: true }));
    }
    const headers = { 'content-type': 'application/json' };
    if (!req.url.includes('v1only'))
      headers['PAYMENT-REQUIRED'] = encodeHeader({ x402Version: 2, error: 'Payment required',
        resource: { url, description: '', mimeType: 'application/json' }, accepts: [v2] });
    res.writeHead(402, headers);
    res.end(JSON.stringify({ x402Version: 1, error: 'X-PAYMENT header is required', accepts: [v1] }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const run = async (args) => JSON.parse((await promisify(execFile)(process.execPath, args, { cwd: here('.') })).stdout);
  const key = S.payers[0].privateKey;
  try {
    let expected = 0n;
    for (const [client, path, hdr] of [['v2', '/paid', 'payment-response'], ['v1', '/paid', 'x-payment-response'],
      ['v2', '/paid?v1only=1', 'x-payment-response']]) {
      seen.length = 0;
      const r = await run([here('./pay.mjs'), '--client', client, '--url', base + path, '--key', key, '--method', 'POST', '--body', '{"q":1}']);
      expected += 1000n;
      const settle = r.headers[hdr] ? decodeHeader(r.headers[hdr]) : null;
      check(`pay.mjs ${client} ${path} → 200 with ${hdr}`, r.status === 200 && r.error === null && settle?.success === true, r);
      check(`pay.mjs ${client} ${path} moved funds`, (await usdcBalance(rpc, payTo)) === expected);
      console.log(`     (${client} retry sent ${seen[1]?.sig ? 'PAYMENT-SIGNATURE' : seen[1]?.xp ? 'X-PAYMENT' : 'nothing'}; headers: ${seen[1]?.headers.join(',')})`);
    }
    const capped = await run([here('./pay.mjs'), '--client', 'v1', '--url', `${base}/paid`, '--key', key, '--max-value', '999']);
    check('pay.mjs v1 --max-value below price → error', capped.status === 0 && /exceeds/.test(capped.error ?? ''), capped);
    const capped2 = await run([here('./pay.mjs'), '--client', 'v2', '--url', `${base}/paid`, '--key', key, '--max-value', '999']);
    check('pay.mjs v2 --max-value below price → error', capped2.status === 0 && typeof capped2.error === 'string', capped2);
    const plain = await run([here('./pay.mjs'), '--client', 'v2', '--url', `${O}/free`, '--key', key]);
    check('pay.mjs on a free URL → 200 passthrough', plain.status === 200 && JSON.parse(plain.body).ok === true, plain);

    // sign.mjs CLI: default header verifies; overridden nonce is echoed.
    const req = v2req(newAddress());
    const nonce = `0x${'ab'.repeat(32)}`;
    const out = await run([here('./sign.mjs'), '--version', '2', '--key', S.payers[3].privateKey, '--requirement', JSON.stringify(req),
      '--resource', JSON.stringify({ url: `${base}/paid` }), '--nonce', nonce]);
    check('sign.mjs output shape', out.header === 'PAYMENT-SIGNATURE' && JSON.stringify(decodeHeader(out.value)) === JSON.stringify(out.payload)
      && out.payload.payload.authorization.nonce === nonce && out.payload.resource.url === `${base}/paid`, out);
    const v = await post(`${F}/verify`, { x402Version: 2, paymentPayload: out.payload, paymentRequirements: req });
    check('sign.mjs v2 header verifies', v.json.isValid === true, v.json);
    const req1 = v1req(newAddress());
    const out1 = await run([here('./sign.mjs'), '--version', '1', '--key', S.payers[3].privateKey, '--requirement', JSON.stringify(req1)]);
    const v1r = await post(`${F}/verify`, { x402Version: 1, paymentPayload: out1.payload, paymentRequirements: req1 });
    check('sign.mjs v1 header verifies', out1.header === 'X-PAYMENT' && v1r.json.isValid === true, v1r.json);
    const bad = await run([here('./sign.mjs'), '--version', '1', '--key', S.payers[3].privateKey, '--requirement', JSON.stringify(req1), '--domain-name', 'USD Coin']);
    const v1b = await post(`${F}/verify`, { x402Version: 1, paymentPayload: bad.payload, paymentRequirements: req1 });
    check('sign.mjs --domain-name override → invalid signature', v1b.json.isValid === false, v1b.json);
    console.log(`     (invalidReason: ${v1b.json.invalidReason})`);
  } finally {
    server.close();
  }
}
