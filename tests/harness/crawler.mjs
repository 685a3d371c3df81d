// crawler.mjs — signs a crawler request for Web Bot Auth (RFC 9421, Ed25519) WITHOUT sending it: the
// Rust test sends it, so it controls the source address. Signs with npm `web-bot-auth` 0.1.3 (legacy
// sf-string `Signature-Agent`, covered as plain "signature-agent").
// Usage: node crawler.mjs '<request JSON>'     or     node crawler.mjs --self-check
// Request JSON: {url, method?: "GET", headers?: {...}, components?: ["@authority","signature-agent"],
//   created?: secs (now), expires?: secs (created + 60), nonce?: string | null, label?: "sig1",
//   jwk: {kty: "OKP", crv: "Ed25519", d, x}}
// nonce absent: the package makes one (64 random bytes, base64); a string must be 64 bytes in base64;
// null: no nonce parameter at all (signed with the package's own http-message-sig, same parameters).
// `Signature-Agent`, if any, is one of `headers`, e.g. {"Signature-Agent": "\"http://127.0.0.1:9000\""}.
// Output (one line): {"Signature-Input": "...", "Signature": "...", ...headers}
import { createPublicKey, verify as edVerify } from 'node:crypto';
import { signatureHeaders as signPlain } from 'http-message-sig';
import { verify, signatureHeaders } from 'web-bot-auth';
import { signerFromJWK, verifierFromJWK } from 'web-bot-auth/crypto';

async function sign(req) {
  if (typeof req.url !== 'string' || !req.jwk) throw new Error('need "url" and "jwk"');
  const headers = { ...(req.headers ?? {}) };
  const message = { method: (req.method ?? 'GET').toUpperCase(), url: req.url, headers };
  const created = req.created ?? Math.floor(Date.now() / 1000);
  const expires = req.expires ?? created + 60;
  const components = req.components ?? ['@authority', 'signature-agent'];
  const signer = await signerFromJWK(req.jwk);
  const when = { created: new Date(created * 1000), expires: new Date(expires * 1000) };
  const signed = req.nonce === null
    ? await signPlain(message, {
      signer, keyid: signer.keyid, components, key: req.label, ...when, tag: 'web-bot-auth',
    })
    : await signatureHeaders(message, signer, {
      ...when, components, key: req.label, ...(req.nonce === undefined ? {} : { nonce: req.nonce }),
    });
  return { 'Signature-Input': signed['Signature-Input'], Signature: signed.Signature, ...headers };
}

// RFC 9421 App. B.1.4 test key (toll-booth.md §1.4).
const TEST_JWK = {
  kty: 'OKP', crv: 'Ed25519',
  d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs',
};
const TEST_KEYID = 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U';

async function selfCheck() {
  const verifier = await verifierFromJWK({ kty: TEST_JWK.kty, crv: TEST_JWK.crv, x: TEST_JWK.x });
  const url = 'http://127.0.0.1:8080/article/1';
  const agent = { 'Signature-Agent': '"http://127.0.0.1:9000"' };
  const cases = [
    ['defaults', { url, headers: agent }],
    ['extra component, given nonce', {
      url, headers: { ...agent, 'crawler-exact-price': 'USD 0.01' },
      components: ['@authority', 'signature-agent', 'crawler-exact-price'], nonce: 'A'.repeat(86) + '==',
    }],
    ['no nonce, label sig2, @method @path', {
      url, method: 'post', headers: agent, components: ['@authority', '@method', '@path', 'signature-agent'],
      nonce: null, label: 'sig2',
    }],
  ];
  for (const [name, req] of cases) {
    const out = await sign({ ...req, jwk: TEST_JWK });
    const input = out['Signature-Input'];
    if (!input.includes(`keyid="${TEST_KEYID}"`) || !input.includes('tag="web-bot-auth"')) {
      throw new Error(`${name}: unexpected Signature-Input ${input}`);
    }
    if ((req.nonce === null) === input.includes(';nonce=')) throw new Error(`${name}: nonce ${input}`);
    const message = { method: (req.method ?? 'GET').toUpperCase(), url, headers: out };
    await verify(message, verifier);
    const moved = { ...message, url: 'http://127.0.0.2:8080/article/1' };
    const forged = await verify(moved, verifier).then(() => true, () => false);
    if (forged) throw new Error(`${name}: verified for another @authority`);
    // Independently of the package: the RFC 9421 signature base built by hand, checked with node:crypto.
    const label = req.label ?? 'sig1';
    const lines = input.slice(label.length + 2, input.indexOf(')')).split(' ').map((c) => {
      const n = JSON.parse(c);
      const v = n === '@authority' ? '127.0.0.1:8080' : n === '@method' ? message.method
        : n === '@path' ? '/article/1' : out[Object.keys(out).find((k) => k.toLowerCase() === n)];
      return `"${n}": ${v}`;
    });
    const base = [...lines, `"@signature-params": ${input.slice(label.length + 1)}`].join('\n');
    const sig = Buffer.from(out.Signature.slice(label.length + 2, -1), 'base64');
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: TEST_JWK.x }, format: 'jwk' });
    if (!edVerify(null, Buffer.from(base), pub, sig)) throw new Error(`${name}: hand-built base fails:\n${base}`);
    process.stderr.write(`self-check ${name}: ok\n  ${input}\n`);
  }
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
}

if (process.argv[2] === '--self-check') {
  await selfCheck();
} else if (process.argv[2]) {
  process.stdout.write(`${JSON.stringify(await sign(JSON.parse(process.argv[2])))}\n`);
} else {
  process.stderr.write("usage: node crawler.mjs '<request JSON>' | --self-check\n");
  process.exit(2);
}
