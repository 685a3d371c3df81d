// pay.mjs — pays a URL with an OFFICIAL x402 client and prints the final response as one JSON line.
//   v2: @x402/fetch wrapFetchWithPayment + x402Client (@x402/core) + registerExactEvmScheme (@x402/evm)
//       (reads PAYMENT-REQUIRED, falls back to a v1 JSON body; sends PAYMENT-SIGNATURE or X-PAYMENT)
//   v1: legacy x402-fetch wrapFetchWithPayment(fetch, walletClient, maxValue) (reads the JSON body only,
//       sends X-PAYMENT)
// Usage: node pay.mjs --client v2|v1 --url URL --key 0xPRIVKEY [--method GET|POST] [--body STR]
//          [--max-value ATOMIC] [--header 'Name: value']...
// Output: {"status":n,"headers":{lowercased:value},"body":"<text>","error":null|"<message>"}
// Exit 0 whatever the status (1 only if this script itself crashes).
import { parseArgs } from 'node:util';
import { createWalletClient, custom } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { baseSepolia } from 'viem/chains';

const { values: a } = parseArgs({ options: {
  client: { type: 'string', default: 'v2' }, url: { type: 'string' }, key: { type: 'string' },
  method: { type: 'string', default: 'GET' }, body: { type: 'string' }, 'max-value': { type: 'string' },
  header: { type: 'string', multiple: true, default: [] },
} });
if (!a.url || !a.key || !['v1', 'v2'].includes(a.client)) {
  process.stderr.write('usage: node pay.mjs --client v2|v1 --url URL --key 0x.. [--method M] [--body S] [--max-value N]\n');
  process.exit(2);
}
const account = privateKeyToAccount(a.key);
const maxValue = a['max-value'] !== undefined ? BigInt(a['max-value']) : undefined;

async function payingFetch() {
  if (a.client === 'v1') {
    const { wrapFetchWithPayment } = await import('x402-fetch');
    // x402-fetch needs a viem wallet client (it checks for `chain` and `transport`) whose chain id maps to
    // a v1 network name; it only calls signTypedData, which a local account does without any RPC.
    const wallet = createWalletClient({ account, chain: baseSepolia,
      transport: custom({ request: async () => { throw new Error('pay.mjs: no RPC available'); } }) });
    return maxValue === undefined ? wrapFetchWithPayment(fetch, wallet) : wrapFetchWithPayment(fetch, wallet, maxValue);
  }
  const { wrapFetchWithPayment, x402Client } = await import('@x402/fetch');
  const { registerExactEvmScheme } = await import('@x402/evm/exact/client');
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: account }); // eip155:* for v2 plus every v1 EVM network name
  if (maxValue !== undefined) {
    // Replace the default spend controls ($1 cap, default assets only) by an atomic cap, like x402-fetch's maxValue.
    client.setSpendControls(false);
    client.registerPolicy((version, reqs) =>
      reqs.filter((r) => BigInt(version === 1 ? r.maxAmountRequired : r.amount) <= maxValue));
  }
  return wrapFetchWithPayment(fetch, client);
}

const result = { status: 0, headers: {}, body: '', error: null };
try {
  const f = await payingFetch();
  const headers = Object.fromEntries(a.header.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));
  const res = await f(a.url, { method: a.method, headers, ...(a.body !== undefined ? { body: a.body } : {}) });
  result.status = res.status;
  res.headers.forEach((v, k) => { result.headers[k.toLowerCase()] = v; });
  result.body = await res.text();
} catch (e) {
  result.error = e instanceof Error ? e.message : String(e);
}
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
