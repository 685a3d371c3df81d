// stack.mjs — brings up the whole local payment world for gateway tests: anvil (chain 84532) with
// Circle's USDC at the Base Sepolia address, funded payers, the OFFICIAL x402 facilitator behind an
// HTTP server, and a recording test origin (HTTP and WebSocket echo). Prints ONE JSON line on stdout when
// ready; logs on stderr.
// Runs until stdin closes (EOF) or SIGTERM/SIGINT, then stops anvil and exits.
// Usage: node stack.mjs [--payers N] [--ignore-stdin]
//
// Facilitator test controls (never delayed):
//   GET  /__stats        {verify, settle, verifyInFlight, maxVerifyInFlight}: requests counted, and the
//                        largest number of /verify calls being processed at once (injected delay included)
//   POST /__reset-stats  zeroes verify, settle and maxVerifyInFlight (max restarts from the current in-flight)
//   POST /__delay        {ms, only?: "verify"|"settle"}: delay every later request (or only /verify or /settle)
//   POST /__fail-settle  {count, mode, hangMs?}: the next `count` /settle calls are faulty, by mode:
//     error            200 {success:false, errorReason:"injected_failure"}, nothing on chain
//     http500          500 {"error":"injected"}, nothing on chain
//     pending          500 settlement_pending with a fake tx; the identical retry settles for real
//     settle-then-502  settles for real on chain, then answers 502 with the text body "bad gateway"
//     settle-then-hang settles for real on chain, then waits hangMs (default 60000) and answers 200 with it
//     settle-then-pending-then-fail  settles for real, answers 500 settlement_pending; the identical retry
//                      is told 200 {success:false, errorReason:"invalid_exact_evm_transaction_failed"} (a lie)
//   POST /__require-cdp  {keyId, publicKey: PEM}: from now on /supported, /verify and /settle need a
//                        CDP-style `Authorization: Bearer <JWT>` (EdDSA or ES256, checked like CDP: kid and
//                        sub = keyId, iss "cdp", nbf/exp around now, at most 120 s, uris = ["METHOD host/path"],
//                        a nonce never seen before); otherwise 401. {keyId: null} turns it off.
//                        Counted in /__stats as cdpAccepted / cdpRejected (the last reason in cdpLastError).
// Test origin: GET /__log?prefix=P lists what it received; any other request is recorded and echoed as
// JSON ({ok, path, method, body}); /status/NNN in the path answers that status, /stream streams 5 chunks,
// /crawler-price/D sets `crawler-price: USD D` on the answer (/crawler-price/bad: a malformed one).
// WebSocket upgrades on any path are recorded too (with upgrade: true) and then echo every message;
// an upgrade whose path has /status/NNN is refused with that HTTP status instead.
import http from 'node:http';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { nonceManager, publicActions } from 'viem';
import { x402Facilitator } from '@x402/core/facilitator';
import { registerExactEvmScheme } from '@x402/evm/exact/facilitator';
import { toFacilitatorEvmSigner } from '@x402/evm';
import {
  CHAIN_ID, USDC_ADDRESS, anvilAccount, deployMulticall3, deployUsdc, fakeTxHash, log, sleep, startAnvil, toJson, walletClientFor,
} from './lib.mjs';

const { values: args } = parseArgs({ options: {
  payers: { type: 'string', default: '8' },
  'ignore-stdin': { type: 'boolean', default: false }, // for shells that start it with stdin=/dev/null
} });

// ---------- small HTTP helpers ----------
const readBody = (req) => new Promise((resolve, reject) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  req.on('error', reject);
});
const send = (res, status, obj) => {
  const body = toJson(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

// ---------- facilitator ----------
function startFacilitator(rpc) {
  const account = anvilAccount(1, { nonceManager }); // pays gas; nonce manager for concurrent settles
  const client = walletClientFor(rpc, account).extend(publicActions);
  // Same shape as the official facilitator example: a viem wallet+public client adapted to the signer API.
  const signer = toFacilitatorEvmSigner({
    address: account.address,
    getCode: (a) => client.getCode(a),
    readContract: (a) => client.readContract({ ...a, args: a.args || [] }),
    verifyTypedData: (a) => client.verifyTypedData(a),
    writeContract: (a) => client.writeContract({ ...a, args: a.args || [] }),
    sendTransaction: (a) => client.sendTransaction(a),
    waitForTransactionReceipt: (a) => client.waitForTransactionReceipt(a),
  });
  const facilitator = new x402Facilitator();
  registerExactEvmScheme(facilitator, { signer, networks: `eip155:${CHAIN_ID}` }); // also registers all v1 names

  const stats = { verify: 0, settle: 0, verifyInFlight: 0, maxVerifyInFlight: 0, cdpAccepted: 0, cdpRejected: 0, cdpLastError: null };
  const cdp = { keyId: null, publicKey: null, nonces: new Set() };

  // The JWT check of a CDP-style facilitator: returns null when the call may proceed, else why not.
  function cdpRefusal(req, route) {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(auth);
    if (!m) return 'no bearer JWT';
    const part = (x) => JSON.parse(Buffer.from(x, 'base64url').toString('utf8'));
    let header; let claims;
    try { header = part(m[1]); claims = part(m[2]); } catch { return 'undecodable JWT'; }
    const input = Buffer.from(`${m[1]}.${m[2]}`);
    const sig = Buffer.from(m[3], 'base64url');
    if (!['EdDSA', 'ES256'].includes(header.alg)) return `alg ${header.alg}`;
    let ok = false;
    try { // a signature by a key of another type throws: it is as bad as a wrong signature
      ok = header.alg === 'EdDSA'
        ? crypto.verify(null, input, cdp.publicKey, sig)
        : crypto.verify('sha256', input, { key: cdp.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    } catch { ok = false; }
    if (!ok) return 'bad signature';
    if (header.typ !== 'JWT' || header.kid !== cdp.keyId || claims.sub !== cdp.keyId) return 'kid/sub/typ';
    if (claims.iss !== 'cdp') return 'iss';
    const now = Math.floor(Date.now() / 1000);
    if (!(claims.nbf <= now + 5 && claims.exp >= now && claims.exp - claims.nbf <= 120)) return 'nbf/exp';
    const [method, path] = route.split(' ');
    const want = `${method} ${req.headers.host}${path}`;
    if (!Array.isArray(claims.uris) || claims.uris[0] !== want) return `uris ${JSON.stringify(claims.uris)} != ${want}`;
    if (!header.nonce || cdp.nonces.has(header.nonce)) return 'nonce missing or replayed';
    cdp.nonces.add(header.nonce);
    return null;
  }
  const fail = { count: 0, mode: 'error', hangMs: 60000 };
  const MODES = ['error', 'http500', 'pending', 'settle-then-502', 'settle-then-hang', 'settle-then-pending-then-fail'];
  const lieOnRetry = new Set(); // settled for real and answered pending; the identical retry answers a failure
  const pendingSeen = new Set(); // settle bodies answered "settlement_pending" once; next identical call settles
  const delay = { ms: 0, only: undefined }; // only: undefined = every request, 'verify' or 'settle'

  const realSettle = async (paymentPayload, paymentRequirements) => {
    const result = await facilitator.settle(paymentPayload, paymentRequirements);
    log(`settle ${result.success ? 'ok' : 'FAILED'} ${result.transaction || String(result.errorReason).split('\n')[0]}`);
    return result;
  };

  async function injectedSettle(res, paymentPayload, paymentRequirements) {
    const network = paymentRequirements.network;
    const payer = paymentPayload?.payload?.authorization?.from;
    const { mode, hangMs } = fail;
    if (mode === 'settle-then-502') {
      await realSettle(paymentPayload, paymentRequirements);
      log('settle-then-502: answering 502 after the real settlement');
      res.writeHead(502, { 'content-type': 'text/plain', 'content-length': 11 });
      return res.end('bad gateway');
    }
    if (mode === 'settle-then-hang') {
      const result = await realSettle(paymentPayload, paymentRequirements);
      log(`settle-then-hang: holding the answer for ${hangMs} ms`);
      await sleep(hangMs);
      return send(res, 200, result);
    }
    if (mode === 'settle-then-pending-then-fail') {
      const result = await realSettle(paymentPayload, paymentRequirements);
      lieOnRetry.add(toJson({ paymentPayload, paymentRequirements }));
      log('settle-then-pending-then-fail: settled, answering pending');
      return send(res, 500, { success: false, errorReason: 'settlement_pending',
        transaction: result.transaction, network, ...(payer ? { payer } : {}) });
    }
    if (mode === 'http500') return send(res, 500, { error: 'injected' });
    if (mode === 'pending') {
      const key = toJson({ paymentPayload, paymentRequirements });
      pendingSeen.add(key);
      return send(res, 500, { success: false, errorReason: 'settlement_pending',
        transaction: fakeTxHash(key), network, ...(payer ? { payer } : {}) });
    }
    return send(res, 200, { success: false, errorReason: 'injected_failure', transaction: '', network, payer });
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const route = `${req.method} ${url.pathname}`;
    const isVerify = route === 'POST /verify';
    if (isVerify) { // counted from arrival, so an injected delay counts as "being processed"
      stats.verifyInFlight++;
      stats.maxVerifyInFlight = Math.max(stats.maxVerifyInFlight, stats.verifyInFlight);
    }
    try {
      const text = await readBody(req);
      if (route === 'GET /__stats') return send(res, 200, stats);
      if (route === 'POST /__reset-stats') {
        Object.assign(stats, { verify: 0, settle: 0, maxVerifyInFlight: stats.verifyInFlight, cdpAccepted: 0, cdpRejected: 0, cdpLastError: null });
        return send(res, 200, stats);
      }
      if (route === 'POST /__require-cdp') {
        const b = JSON.parse(text || '{}');
        cdp.keyId = b.keyId ?? null;
        cdp.publicKey = b.publicKey ? crypto.createPublicKey(b.publicKey) : null;
        return send(res, 200, { keyId: cdp.keyId });
      }
      if (cdp.keyId && ['GET /supported', 'POST /verify', 'POST /settle'].includes(route)) {
        const why = cdpRefusal(req, route);
        if (why) { stats.cdpRejected++; stats.cdpLastError = why; return send(res, 401, { error: `unauthorized: ${why}` }); }
        stats.cdpAccepted++;
      }
      if (route === 'POST /__fail-settle') {
        const b = JSON.parse(text || '{}');
        const mode = b.mode ?? 'error';
        if (!MODES.includes(mode)) return send(res, 400, { error: `bad mode; one of ${MODES.join(', ')}` });
        Object.assign(fail, { count: Number(b.count ?? 1), mode, hangMs: Number(b.hangMs ?? 60000) });
        return send(res, 200, fail);
      }
      if (route === 'POST /__delay') {
        const b = JSON.parse(text || '{}');
        const only = b.only ?? undefined;
        if (![undefined, 'verify', 'settle'].includes(only)) return send(res, 400, { error: 'only: "verify" or "settle"' });
        Object.assign(delay, { ms: Number(b.ms ?? 0), only });
        return send(res, 200, delay);
      }
      const delayed = delay.only === undefined || route === `POST /${delay.only}`;
      if (delay.ms > 0 && delayed) await sleep(delay.ms);
      if (route === 'GET /supported') return send(res, 200, facilitator.getSupported());
      if (route === 'POST /verify' || route === 'POST /settle') {
        const isSettle = route === 'POST /settle';
        stats[isSettle ? 'settle' : 'verify']++;
        let body;
        try { body = JSON.parse(text); } catch { return send(res, 400, { error: 'Invalid JSON body' }); }
        const { paymentPayload, paymentRequirements } = body ?? {};
        if (!paymentPayload || !paymentRequirements)
          return send(res, 400, { error: 'Missing paymentPayload or paymentRequirements' });
        if (!isSettle) return send(res, 200, await facilitator.verify(paymentPayload, paymentRequirements));
        const key = toJson({ paymentPayload, paymentRequirements });
        if (lieOnRetry.has(key)) { // the retry after a real settlement: claim it failed
          lieOnRetry.delete(key);
          return send(res, 200, { success: false, errorReason: 'invalid_exact_evm_transaction_failed', transaction: '',
            network: paymentRequirements.network, payer: paymentPayload?.payload?.authorization?.from });
        }
        if (pendingSeen.has(key)) pendingSeen.delete(key); // the retry of a "pending" settle: settle for real
        else if (fail.count > 0) { fail.count--; return injectedSettle(res, paymentPayload, paymentRequirements); }
        return send(res, 200, await realSettle(paymentPayload, paymentRequirements));
      }
      return send(res, 404, { error: `no route ${route}` });
    } catch (e) {
      log(`facilitator error: ${e?.stack || e}`);
      if (!res.headersSent) send(res, 500, { error: e instanceof Error ? e.message : String(e) });
    } finally {
      if (isVerify) stats.verifyInFlight--;
    }
  });
  return { server, address: account.address };
}

// ---------- test origin ----------
function startOrigin() {
  const recorded = [];
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/__log') {
      const prefix = url.searchParams.get('prefix') ?? '';
      return send(res, 200, recorded.filter((r) => r.path.startsWith(prefix)));
    }
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    recorded.push({ method: req.method, path: req.url, headers, body });
    const status = /\/status\/(\d{3})(?=\/|$)/.exec(url.pathname);
    if (status) return send(res, Number(status[1]), { status: Number(status[1]) });
    if (url.pathname.includes('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) {
        res.write(`chunk-${i}\n`);
        if (i < 4) await sleep(50);
      }
      return res.end();
    }
    // /crawler-price/0.003 in the path: the origin prices this response in band (pay per crawl).
    const inBand = /\/crawler-price\/([0-9.]+|bad)(?=\/|$)/.exec(url.pathname);
    if (inBand) res.setHeader('crawler-price', inBand[1] === 'bad' ? 'USD one' : `USD ${inBand[1]}`);
    return send(res, 200, { ok: true, path: req.url, method: req.method, body });
  });

  // WebSocket: record the upgrade request like any other, then either refuse it (/status/NNN) or
  // complete the handshake and echo every message back.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {}); // a client going away mid-handshake is not the origin's problem
    const url = new URL(req.url, 'http://x');
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    recorded.push({ method: req.method, path: req.url, headers, body: '', upgrade: true });
    const status = /\/status\/(\d{3})(?=\/|$)/.exec(url.pathname);
    if (status) {
      const code = Number(status[1]);
      const body = JSON.stringify({ status: code });
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Status'}\r\ncontent-type: application/json\r\n`
        + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  return { server };
}

// ---------- main ----------
let anvil;
let stopping = false;
async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  log('shutting down');
  try { if (anvil) await anvil.stop(); } finally { process.exit(code); }
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (!args['ignore-stdin']) {
  process.stdin.on('end', () => shutdown(0)); // parent died or closed our stdin
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();
}

try {
  const t0 = Date.now();
  anvil = await startAnvil();
  const payers = Array.from({ length: Number(args.payers) }, () => {
    const privateKey = generatePrivateKey();
    return { address: privateKeyToAccount(privateKey).address, privateKey };
  });
  await deployUsdc(anvil.rpc, payers.map((p) => p.address));
  await deployMulticall3(anvil.rpc);
  const fac = startFacilitator(anvil.rpc);
  const origin = startOrigin();
  const [fport, oport] = [await listen(fac.server), await listen(origin.server)];
  log(`ready in ${Date.now() - t0} ms`);
  process.stdout.write(`${JSON.stringify({
    rpc: anvil.rpc, chainId: CHAIN_ID, usdc: USDC_ADDRESS,
    facilitator: `http://127.0.0.1:${fport}`, origin: `http://127.0.0.1:${oport}`,
    facilitatorAddress: fac.address, payers,
  })}\n`);
} catch (e) {
  log(`startup failed: ${e?.stack || e}`);
  await shutdown(1);
}
