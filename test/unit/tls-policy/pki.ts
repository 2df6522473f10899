/**
 * A small test PKI made with the openssl CLI in a temp dir: roots, intermediates, leaves with
 * chosen names, self-signed leaves. Local to the tls-policy tests (test/helpers/certs.ts was not
 * there when these were written).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  name: string;
  keyPem: string;
  certPem: string;
  der: Buffer;
  x509: X509Certificate;
}

export type KeyType = 'ec' | 'rsa';

export interface CertOptions {
  ca?: boolean;
  names?: string[];
  key?: KeyType;
  days?: number;
  /** Only basicConstraints CA:FALSE, no keyUsage (so key usage alone does not forbid signing). */
  bare?: boolean;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'tls-policy-pki-'));
  #n = 0;

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  #key(file: string, type: KeyType): void {
    if (type === 'ec') this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
    else this.#openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
  }

  #load(name: string, base: string): TestCert {
    const keyPem = readFileSync(join(this.dir, `${base}.key`), 'utf8');
    const certPem = readFileSync(join(this.dir, `${base}.pem`), 'utf8');
    const x509 = new X509Certificate(certPem);
    return { name, keyPem, certPem, der: x509.raw, x509 };
  }

  #extensions(opts: { ca: boolean; names?: string[] | undefined; bare?: boolean | undefined }): string {
    const lines = ['[req]', 'distinguished_name=dn', '[dn]', '[v3]'];
    if (opts.bare) {
      lines.push('basicConstraints=CA:FALSE'); // no keyUsage: only basicConstraints says "not a CA"
    } else if (opts.ca) {
      lines.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign');
    } else {
      lines.push('basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth');
    }
    lines.push('subjectKeyIdentifier=hash');
    if (opts.names && opts.names.length > 0) lines.push(`subjectAltName=${opts.names.map((n) => `DNS:${n}`).join(',')}`);
    return lines.join('\n') + '\n';
  }

  /** A self-signed certificate: a root CA (ca true) or a self-signed server leaf. */
  selfSigned(cn: string, opts: CertOptions = {}): TestCert {
    const base = `c${++this.#n}`;
    this.#key(`${base}.key`, opts.key ?? 'ec');
    writeFileSync(join(this.dir, `${base}.cnf`), this.#extensions({ ca: opts.ca ?? true, names: opts.names, bare: opts.bare }));
    this.#openssl([
      'req', '-x509', '-new', '-key', `${base}.key`, '-subj', `/CN=${cn}`, '-days', String(opts.days ?? 3650),
      '-config', `${base}.cnf`, '-extensions', 'v3', '-out', `${base}.pem`,
    ]);
    return this.#load(cn, base);
  }

  /** A certificate issued by `issuer`: an intermediate CA (ca true) or a server leaf with names. */
  issue(issuer: TestCert, cn: string, opts: CertOptions = {}): TestCert {
    const base = `c${++this.#n}`;
    this.#key(`${base}.key`, opts.key ?? 'ec');
    writeFileSync(join(this.dir, `${base}.cnf`), this.#extensions({ ca: opts.ca ?? false, names: opts.names, bare: opts.bare }) + 'authorityKeyIdentifier=keyid\n');
    writeFileSync(join(this.dir, `${base}.issuer.key`), issuer.keyPem);
    writeFileSync(join(this.dir, `${base}.issuer.pem`), issuer.certPem);
    this.#openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${cn}`, '-config', `${base}.cnf`, '-out', `${base}.csr`]);
    this.#openssl([
      'x509', '-req', '-in', `${base}.csr`, '-CA', `${base}.issuer.pem`, '-CAkey', `${base}.issuer.key`,
      '-set_serial', String(1000 + this.#n), '-days', String(opts.days ?? 365),
      '-extfile', `${base}.cnf`, '-extensions', 'v3', '-out', `${base}.pem`,
    ]);
    return this.#load(cn, base);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
