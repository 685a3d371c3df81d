// keys.mjs — makes CDP-style API keys for the CDP auth test: prints one JSON line
// {ed25519: {secret, publicKey}, es256: {secret, publicKey}}: the Ed25519 secret as CDP issues it
// (base64 of seed ‖ public key), the EC secret as a SEC1 PEM, each public key as SPKI PEM.
import crypto from 'node:crypto';

const ed = crypto.generateKeyPairSync('ed25519');
const seed = ed.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
const edPub = ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
process.stdout.write(`${JSON.stringify({
  ed25519: { secret: Buffer.concat([seed, edPub]).toString('base64'),
    publicKey: ed.publicKey.export({ format: 'pem', type: 'spki' }) },
  es256: { secret: ec.privateKey.export({ format: 'pem', type: 'sec1' }),
    publicKey: ec.publicKey.export({ format: 'pem', type: 'spki' }) },
})}\n`);
