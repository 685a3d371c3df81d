// sign.mjs — builds an x402 payment header WITHOUT sending it (for adversarial gateway tests).
// Signs an EIP-3009 TransferWithAuthorization for one requirement exactly as the official clients do;
// every authorization/domain field can be overridden.
// Usage: node sign.mjs --version 2|1 --key 0xPRIVKEY --requirement '<requirement JSON>'
//          [--resource '<v2 resource JSON>'] [--value N] [--to 0x..] [--valid-after SECS]
//          [--valid-before SECS] [--nonce 0x..] [--chain-id N] [--verifying-contract 0x..]
//          [--domain-name S] [--domain-version S] [--from 0xADDR] [--count N]
// --count N signs N payments (fresh random nonces) and prints a JSON array of them.
// --from puts another address in authorization.from while --key signs: a forged payment.
// Output (one line): {"header":"PAYMENT-SIGNATURE"|"X-PAYMENT","value":"<base64 JSON>","payload":{...}}
import { parseArgs } from 'node:util';
import { signPayment } from './lib.mjs';

const str = { type: 'string' };
const { values: a } = parseArgs({ options: {
  version: str, key: str, requirement: str, resource: str, value: str, to: str, 'valid-after': str,
  'valid-before': str, nonce: str, 'chain-id': str, 'verifying-contract': str, 'domain-name': str, 'domain-version': str,
  from: str, count: str,
} });
if (!a.key || !a.requirement || !['1', '2'].includes(a.version ?? '2')) {
  process.stderr.write('usage: node sign.mjs --version 2|1 --key 0x.. --requirement JSON [overrides]\n');
  process.exit(2);
}
const o = {
  value: a.value, to: a.to, validAfter: a['valid-after'], validBefore: a['valid-before'], nonce: a.nonce,
  chainId: a['chain-id'], verifyingContract: a['verifying-contract'], domainName: a['domain-name'],
  domainVersion: a['domain-version'], from: a.from,
};
for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
const one = () => signPayment({
  version: Number(a.version ?? 2), key: a.key, requirement: JSON.parse(a.requirement),
  resource: a.resource ? JSON.parse(a.resource) : undefined, o,
});
if (a.count) {
  const all = [];
  for (let i = 0; i < Number(a.count); i++) all.push(await one());
  process.stdout.write(`${JSON.stringify(all)}\n`);
} else {
  process.stdout.write(`${JSON.stringify(await one())}\n`);
}
