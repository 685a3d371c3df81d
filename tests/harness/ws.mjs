// ws.mjs — opens ONE WebSocket (with the `ws` package), sends a message, waits for its echo, closes,
// and prints what happened as one JSON line (for tests of WebSocket upgrades through the gateway).
// Usage: node ws.mjs --url ws://127.0.0.1:PORT/path [--header 'Name: value']... [--message TEXT]
// Output: {"status":101|<status of a non-101 answer>|0,"opened":bool,"echoed":string|null,
//          "headers":{lowercased response headers},"body":"<body of a non-101 answer, or ''>",
//          "error":null|"<message>"}
// The echo is awaited at most 5 s, a non-101 body at most 5 s. Exit 0 whatever happens
// (2 only on bad usage).
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values: a } = parseArgs({ options: {
  url: { type: 'string' }, message: { type: 'string', default: 'ping' },
  header: { type: 'string', multiple: true, default: [] },
} });
if (!a.url) {
  process.stderr.write("usage: node ws.mjs --url ws://127.0.0.1:PORT/path [--header 'Name: value']... [--message TEXT]\n");
  process.exit(2);
}

const TIMEOUT_MS = 5000;
const result = { status: 0, opened: false, echoed: null, headers: {}, body: '', error: null };
const setHeaders = (h) => {
  for (const [k, v] of Object.entries(h)) result.headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
};
let done = false;
function finish(error) {
  if (done) return;
  done = true;
  if (error && result.error === null) result.error = error;
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

try {
  const headers = Object.fromEntries(a.header.map((h) => {
    const i = h.indexOf(':');
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
  }));
  const ws = new WebSocket(a.url, { headers, handshakeTimeout: TIMEOUT_MS });
  let timer;
  ws.on('upgrade', (res) => { result.status = res.statusCode; setHeaders(res.headers); });
  ws.on('unexpected-response', (req, res) => {
    // Not a 101: keep the answer (status, headers, body) and give up the connection.
    result.status = res.statusCode;
    setHeaders(res.headers);
    const chunks = [];
    const stop = (error) => { result.body = Buffer.concat(chunks).toString('utf8'); req.destroy(); finish(error); };
    const bodyTimer = setTimeout(() => stop('timed out reading the response body'), TIMEOUT_MS);
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => { clearTimeout(bodyTimer); stop(null); });
    res.on('error', (e) => { clearTimeout(bodyTimer); stop(e.message); });
  });
  ws.on('open', () => {
    result.opened = true;
    timer = setTimeout(() => { ws.terminate(); finish(`no echo within ${TIMEOUT_MS} ms`); }, TIMEOUT_MS);
    ws.send(a.message);
  });
  ws.on('message', (data) => {
    if (result.echoed !== null) return;
    result.echoed = data.toString('utf8');
    clearTimeout(timer);
    ws.close(1000);
    // a peer that never answers the close frame must not keep us waiting
    setTimeout(() => { ws.terminate(); finish(null); }, 2000).unref();
  });
  ws.on('close', () => { clearTimeout(timer); finish(result.opened && result.echoed === null ? 'closed before the echo' : null); });
  ws.on('error', (e) => { clearTimeout(timer); finish(e.message); });
} catch (e) {
  finish(e instanceof Error ? e.message : String(e));
}
