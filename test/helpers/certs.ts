/**
 * Test certificates made with the `openssl` CLI in a temporary directory: a test CA, leaf
 * certificates it signs for given names, self-signed certificates, and certificates whose
 * validity window lies in the past (expired) or the future. Every result carries both PEM
 * strings and file paths, plus the DER bytes (what DANE TLSA records hash).
 *
 *   const ca = createTestCa();
 *   const leaf = ca.issue({ names: ['mx1.example.test'] });
 *   const old = ca.issue({ names: ['mx1.example.test'], expired: true });
 *   const self = createSelfSigned({ names: ['mx1.example.test'] });
 *   tls.createServer({ key: leaf.keyPem, cert: leaf.chainPem }) ... ; connect with { ca: ca.certPem }
 *   ca.cleanup(); self.cleanup();
 *
 * `openssl ca` is used for signing because OpenSSL 3.0's `x509`/`req` cannot set an arbitrary
 * notBefore, which expired certificates need.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type KeyType = 'ec' | 'rsa';

export interface CertFiles {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
  /** The certificate in DER form. */
  der: Buffer;
  /** Leaf followed by its issuer (for a server's `cert` option); equals certPem when self-signed. */
  chainPem: string;
  chainPath: string;
}

export interface CertOptions {
  /** DNS names (or IP addresses) for subjectAltName. The first is also the common name. */
  names: string[];
  commonName?: string;
  /** A validity window entirely in the past (ended a day ago). */
  expired?: boolean;
  /** A validity window starting tomorrow. */
  notYetValid?: boolean;
  /** Explicit window; overrides expired/notYetValid. */
  notBefore?: Date;
  notAfter?: Date;
  /** Days of validity from now when no explicit window is given (default 365). */
  days?: number;
  keyType?: KeyType;
  /** Mark the certificate as a CA (for intermediates). */
  isCa?: boolean;
}

export interface TestCa extends CertFiles {
  dir: string;
  issue(opts: CertOptions): CertFiles;
  cleanup(): void;
}

const DAY = 86_400_000;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function genKey(dir: string, name: string, type: KeyType): string {
  const keyPath = path.join(dir, `${name}.key`);
  if (type === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath], dir);
  else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath], dir);
  return keyPath;
}

/** openssl ca date format: YYYYMMDDHHMMSSZ. */
function caDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

function sanOf(names: string[]): string {
  return names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

function window(opts: CertOptions): { start: Date; end: Date } {
  const now = Date.now();
  if (opts.notBefore || opts.notAfter) {
    return { start: opts.notBefore ?? new Date(now - DAY), end: opts.notAfter ?? new Date(now + 365 * DAY) };
  }
  if (opts.expired) return { start: new Date(now - 30 * DAY), end: new Date(now - DAY) };
  if (opts.notYetValid) return { start: new Date(now + DAY), end: new Date(now + 30 * DAY) };
  return { start: new Date(now - DAY), end: new Date(now + (opts.days ?? 365) * DAY) };
}

let seq = 0;

/** Signs a fresh key for `opts.names` with `openssl ca`; self-signed when no issuer is given. */
function sign(dir: string, opts: CertOptions, issuer?: { certPath: string; keyPath: string; certPem: string }): CertFiles {
  const name = `cert${++seq}`;
  const keyPath = genKey(dir, name, opts.keyType ?? 'ec');
  const csrPath = path.join(dir, `${name}.csr`);
  const certPath = path.join(dir, `${name}.pem`);
  const cn = opts.commonName ?? opts.names[0] ?? 'test';
  openssl(['req', '-new', '-key', keyPath, '-subj', `/CN=${cn}`, '-out', csrPath], dir);

  const ext = [
    '[ v3 ]',
    opts.isCa ? 'basicConstraints = critical, CA:TRUE' : 'basicConstraints = critical, CA:FALSE',
    opts.isCa ? 'keyUsage = critical, keyCertSign, cRLSign, digitalSignature' : 'keyUsage = critical, digitalSignature, keyEncipherment',
    ...(opts.isCa ? [] : ['extendedKeyUsage = serverAuth, clientAuth']),
    'subjectKeyIdentifier = hash',
    ...(issuer ? ['authorityKeyIdentifier = keyid'] : []),
    ...(opts.names.length ? [`subjectAltName = ${sanOf(opts.names)}`] : []),
  ].join('\n');
  const extPath = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extPath, ext + '\n');

  const { start, end } = window(opts);
  const args = ['ca', '-batch', '-config', path.join(dir, 'ca.cnf'), '-in', csrPath, '-out', certPath, '-notext'];
  args.push('-startdate', caDate(start), '-enddate', caDate(end), '-extfile', extPath, '-extensions', 'v3');
  if (issuer) args.push('-cert', issuer.certPath, '-keyfile', issuer.keyPath);
  else args.push('-selfsign', '-keyfile', keyPath);
  openssl(args, dir);

  const certPem = fs.readFileSync(certPath, 'utf8');
  const keyPem = fs.readFileSync(keyPath, 'utf8');
  const chainPem = issuer ? certPem + issuer.certPem : certPem;
  const chainPath = path.join(dir, `${name}.chain.pem`);
  fs.writeFileSync(chainPath, chainPem);
  return { certPem, keyPem, certPath, keyPath, der: Buffer.from(new X509Certificate(certPem).raw), chainPem, chainPath };
}

function prepareDir(dir?: string): { dir: string; owned: boolean } {
  const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-certs-'));
  fs.mkdirSync(path.join(d, 'newcerts'), { recursive: true });
  if (!fs.existsSync(path.join(d, 'index.txt'))) fs.writeFileSync(path.join(d, 'index.txt'), '');
  if (!fs.existsSync(path.join(d, 'serial'))) fs.writeFileSync(path.join(d, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  const cnf = [
    '[ ca ]',
    'default_ca = CA_default',
    '[ CA_default ]',
    `database = ${path.join(d, 'index.txt')}`,
    `new_certs_dir = ${path.join(d, 'newcerts')}`,
    `serial = ${path.join(d, 'serial')}`,
    'default_md = sha256',
    'policy = policy_any',
    'unique_subject = no',
    'copy_extensions = none',
    '[ policy_any ]',
    'commonName = supplied',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(d, 'ca.cnf'), cnf);
  return { dir: d, owned: dir === undefined };
}

/** A fresh CA (self-signed, CA:TRUE) in its own temporary directory. */
export function createTestCa(opts: { commonName?: string; dir?: string; keyType?: KeyType; days?: number } = {}): TestCa {
  const { dir, owned } = prepareDir(opts.dir);
  const root = sign(dir, { names: [], commonName: opts.commonName ?? 'Direct Outbox Test CA', isCa: true, keyType: opts.keyType ?? 'ec', days: opts.days ?? 3650 });
  return {
    ...root,
    dir,
    issue: (o) => sign(dir, o, root),
    cleanup: () => {
      if (owned) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A self-signed leaf certificate for `opts.names`, in its own temporary directory. */
export function createSelfSigned(opts: CertOptions & { dir?: string }): CertFiles & { dir: string; cleanup(): void } {
  const { dir, owned } = prepareDir(opts.dir);
  const cert = sign(dir, opts);
  return {
    ...cert,
    dir,
    cleanup: () => {
      if (owned) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
