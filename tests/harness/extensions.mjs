// extensions.mjs — drives the OFFICIAL x402 extension clients and prints the final response as one JSON line.
//   payid: pays URL with @x402/fetch wrapFetchWithPayment + x402Client (@x402/core) + registerExactEvmScheme
//          (@x402/evm), adding the payment-identifier extension with appendPaymentIdentifierToExtensions
//          (@x402/extensions/payment-identifier) from an x402Client onBeforePaymentCreation hook; `--id none`
//          adds no identifier. Extra output field "paymentHeader": the PAYMENT-SIGNATURE (or X-PAYMENT) value
//          sent on the paid retry, null when none was sent.
//   siwx:  GETs URL, decodes PAYMENT-REQUIRED (decodePaymentRequiredHeader, @x402/core/http), answers its
//          "sign-in-with-x" challenge with createSIWxPayload + encodeSIWxHeader (@x402/extensions/sign-in-with-x)
//          the way wrapFetchWithSIWx does, and sends it as SIGN-IN-WITH-X. Modes: ok | forge (one signature
//          nibble flipped) | expired (issuedAt 20 min and expirationTime 10 min in the past, validly signed) |
//          print (send nothing). `--header-value B64` skips the challenge and just sends that header.
//          Extra output field "siwxHeader" (not with --header-value).
// Usage: node extensions.mjs payid --url URL --key 0xPRIVKEY --id PAYMENT_ID|none [--method M] [--body S]
//          [--max-value ATOMIC] [--header 'Name: value']...
//        node extensions.mjs siwx --url URL --key 0xPRIVKEY [--mode ok|forge|expired|print]
//          [--header-value B64] [--header 'Name: value']...
// Output: {"status":n,"headers":{lowercased:value},"body":"<text>","error":null|"<message>", ...extra}
//   (status 0 when nothing was received, e.g. siwx --mode print).
// Exit 0 whatever the status, 2 on bad usage (1 only if this script itself crashes).
import { parseArgs } from 'node:util';
import { privateKeyToAccount } from 'viem/accounts';

const USAGE = 'usage: node extensions.mjs payid --url URL --key 0x.. --id ID|none [--method M] [--body S] [--max-value N] [--header H]...\n'
  + '       node extensions.mjs siwx --url URL --key 0x.. [--mode ok|forge|expired|print] [--header-value B64] [--header H]...\n';
const usage = () => { process.stderr.write(USAGE); process.exit(2); };

let a, positionals;
try {
  ({ values: a, positionals } = parseArgs({ allowPositionals: true, options: {
    url: { type: 'string' }, key: { type: 'string' }, id: { type: 'string' },
    method: { type: 'string', default: 'GET' }, body: { type: 'string' }, 'max-value': { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
    mode: { type: 'string', default: 'ok' }, 'header-value': { type: 'string' },
  } }));
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  usage();
}
const cmd = positionals[0];
const keyOk = typeof a.key === 'string' && /^0x[0-9a-fA-F]{64}$/.test(a.key);
if (positionals.length !== 1 || !a.url || a.header.some((h) => !h.includes(':'))) usage();
if (cmd === 'payid') {
  if (!keyOk || !a.id || (a['max-value'] !== undefined && !/^\d+$/.test(a['max-value']))) usage();
} else if (cmd === 'siwx') {
  if (!['ok', 'forge', 'expired', 'print'].includes(a.mode)) usage();
  if (a['header-value'] === undefined && !keyOk) usage();
} else {
  usage();
}

const extraHeaders = () => Object.fromEntries(a.header.map((h) =>
  [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));

const result = { status: 0, headers: {}, body: '', error: null };

async function record(res) {
  result.status = res.status;
  result.headers = {};
  res.headers.forEach((v, k) => { result.headers[k.toLowerCase()] = v; });
  result.body = await res.text();
}

async function payid() {
  result.paymentHeader = null;
  const { wrapFetchWithPayment, x402Client } = await import('@x402/fetch');
  const { registerExactEvmScheme } = await import('@x402/evm/exact/client');
  const { PAYMENT_IDENTIFIER, appendPaymentIdentifierToExtensions, isPaymentIdentifierExtension } =
    await import('@x402/extensions/payment-identifier');
  const account = privateKeyToAccount(a.key);
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: account }); // eip155:* for v2 plus every v1 EVM network name
  if (a['max-value'] !== undefined) {
    const maxValue = BigInt(a['max-value']);
    client.setSpendControls(false);
    client.registerPolicy((version, reqs) =>
      reqs.filter((r) => BigInt(version === 1 ? r.maxAmountRequired : r.amount) <= maxValue));
  }
  if (a.id !== 'none') {
    // The documented client pattern: write the id into the server's declaration before the payload is
    // built; x402Client then echoes paymentRequired.extensions (declaration + id) in the payload.
    client.onBeforePaymentCreation(async ({ paymentRequired }) => {
      if (!paymentRequired.extensions) paymentRequired.extensions = {};
      if (!isPaymentIdentifierExtension(paymentRequired.extensions[PAYMENT_IDENTIFIER])) {
        // Not advertised: declare it ourselves so the helper has something to append to.
        paymentRequired.extensions[PAYMENT_IDENTIFIER] = { info: { required: false } };
      }
      appendPaymentIdentifierToExtensions(paymentRequired.extensions, a.id);
    });
  }
  // wrapFetchWithPayment always calls its fetch with a Request; keep the payment header of the last one.
  const capturingFetch = (input, init) => {
    const req = input instanceof Request && init === undefined ? input : new Request(input, init);
    const sent = req.headers.get('payment-signature') ?? req.headers.get('x-payment');
    if (sent !== null) result.paymentHeader = sent;
    return fetch(req);
  };
  const f = wrapFetchWithPayment(capturingFetch, client);
  await record(await f(a.url, { method: a.method, headers: extraHeaders(),
    ...(a.body !== undefined ? { body: a.body } : {}) }));
}

/** Flips one hex nibble in the middle of a 0x-hex signature, keeping its length. */
function forgeSignature(sig) {
  const i = Math.floor(sig.length / 2);
  const flipped = (parseInt(sig[i], 16) ^ 0xf).toString(16);
  return sig.slice(0, i) + flipped + sig.slice(i + 1);
}

async function siwx() {
  const { decodePaymentRequiredHeader } = await import('@x402/core/http');
  const { SIGN_IN_WITH_X, createSIWxPayload, encodeSIWxHeader } = await import('@x402/extensions/sign-in-with-x');
  const send = async (header) => {
    const headers = { ...extraHeaders(), [SIGN_IN_WITH_X]: header };
    await record(await fetch(a.url, { method: a.method, headers,
      ...(a.body !== undefined ? { body: a.body } : {}) }));
  };
  if (a['header-value'] !== undefined) {
    await send(a['header-value']);
    return;
  }
  result.siwxHeader = null;
  const account = privateKeyToAccount(a.key);
  const challenge = await fetch(a.url, { method: a.method, headers: extraHeaders(),
    ...(a.body !== undefined ? { body: a.body } : {}) });
  const requestUrl = challenge.url || a.url;
  if (challenge.status !== 402) {
    await record(challenge);
    throw new Error(`expected a 402 challenge, got ${challenge.status}`);
  }
  const prHeader = challenge.headers.get('PAYMENT-REQUIRED');
  if (!prHeader) {
    await record(challenge);
    throw new Error('402 without a PAYMENT-REQUIRED header');
  }
  await challenge.arrayBuffer();
  const paymentRequired = decodePaymentRequiredHeader(prHeader);
  const ext = paymentRequired.extensions?.[SIGN_IN_WITH_X];
  if (!ext?.info || !Array.isArray(ext.supportedChains)) {
    throw new Error(`PAYMENT-REQUIRED does not advertise ${SIGN_IN_WITH_X}`);
  }
  const network = paymentRequired.accepts?.[0]?.network;
  const chain = ext.supportedChains.find((c) => c.chainId === network)
    ?? ext.supportedChains.find((c) => typeof c.chainId === 'string' && c.chainId.startsWith('eip155:'));
  if (!chain) throw new Error(`${SIGN_IN_WITH_X}: no eip155 entry in supportedChains`);
  // Same server-extension object as wrapFetchWithSIWx / createSIWxClientHook build.
  const serverExtension = { ...ext.info, chainId: chain.chainId, type: chain.type };
  if (a.mode === 'expired') {
    const now = Date.now();
    serverExtension.issuedAt = new Date(now - 20 * 60 * 1000).toISOString();
    serverExtension.expirationTime = new Date(now - 10 * 60 * 1000).toISOString();
  }
  const payload = await createSIWxPayload(serverExtension, account, requestUrl);
  if (a.mode === 'forge') payload.signature = forgeSignature(payload.signature);
  result.siwxHeader = encodeSIWxHeader(payload);
  if (a.mode === 'print') return;
  await send(result.siwxHeader);
}

try {
  await (cmd === 'payid' ? payid() : siwx());
} catch (e) {
  result.error = e instanceof Error ? e.message : String(e);
}
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
