import https from 'node:https';
import net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMtaStsPolicyText, type MtaStsFetchOptions } from '../../../src-main/core/tls-policy/mta-sts-fetch';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';
import { TestPki, type TestCert } from './pki';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  port: number;
  requests: { url: string | undefined; host: string | undefined; sni: string | false | null | undefined }[];
  handler: Handler;
  close(): Promise<void>;
}

async function startServer(cert: TestCert, chainPem = ''): Promise<TestServer> {
  const state: TestServer = {
    port: 0,
    requests: [],
    handler: (_req, res) => res.end(),
    close: async () => {},
  };
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem + chainPem }, (req, res) => {
    state.requests.push({ url: req.url, host: req.headers.host, sni: (req.socket as TLSSocket).servername });
    state.handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

let pki: TestPki;
let root: TestCert;
let good: TestServer;
let selfSigned: TestServer;
let wrongName: TestServer;
const connectedTo: string[] = [];

function opts(server: TestServer, extra: MtaStsFetchOptions = {}): MtaStsFetchOptions {
  return {
    port: server.port,
    ca: root.certPem,
    connectTo: (host) => {
      connectedTo.push(host);
      return '127.0.0.1';
    },
    timeoutMs: 5_000,
    ...extra,
  };
}

async function fetchError(p: Promise<string>): Promise<TlsPolicyError> {
  const e = await p.then(
    (v) => {
      throw new Error(`unexpected success: ${v.slice(0, 50)}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TlsPolicyError);
  return e as TlsPolicyError;
}

const POLICY = 'version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n';

beforeAll(async () => {
  pki = new TestPki();
  root = pki.selfSigned('Fetch Test Root', { ca: true });
  const leaf = pki.issue(root, 'mta-sts.example.com', { names: ['mta-sts.example.com'] });
  const self = pki.selfSigned('mta-sts.example.com', { ca: false, names: ['mta-sts.example.com'] });
  const other = pki.issue(root, 'mta-sts.other.example', { names: ['mta-sts.other.example'] });
  [good, selfSigned, wrongName] = await Promise.all([startServer(leaf), startServer(self), startServer(other)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([good, selfSigned, wrongName].map((s) => s?.close()));
  pki?.cleanup();
});

describe('fetchMtaStsPolicyText (RFC 8461 §3.3)', () => {
  it('fetches the policy over verified HTTPS with SNI mta-sts.<domain>', async () => {
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(POLICY);
    };
    const before = good.requests.length;
    await expect(fetchMtaStsPolicyText('Example.COM.', opts(good))).resolves.toBe(POLICY);
    expect(good.requests.slice(before)).toEqual([
      { url: '/.well-known/mta-sts.txt', host: `mta-sts.example.com:${good.port}`, sni: 'mta-sts.example.com' },
    ]);
    expect(connectedTo).toContain('mta-sts.example.com');
  });

  it('accepts media type parameters and case', async () => {
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'Text/Plain; charset=utf-8' });
      res.end(POLICY);
    };
    await expect(fetchMtaStsPolicyText('example.com', opts(good))).resolves.toBe(POLICY);
  });

  it('refuses to follow a redirect', async () => {
    good.handler = (req, res) => {
      if (req.url !== '/.well-known/mta-sts.txt') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(POLICY);
      }
      res.writeHead(301, { location: `https://mta-sts.example.com:${good.port}/elsewhere.txt` });
      res.end();
    };
    const before = good.requests.length;
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
    expect(e.message).toMatch(/redirect \(HTTP 301\)/);
    expect(good.requests.length - before).toBe(1);
  });

  it.each([404, 204, 500])('refuses HTTP %i', async (status) => {
    good.handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 204 ? undefined : POLICY);
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
    expect(e.message).toContain(`HTTP ${status}`);
  });

  it.each([['text/html'], ['application/octet-stream'], ['text/plainx'], [undefined]])('refuses content type %s', async (type) => {
    good.handler = (_req, res) => {
      res.writeHead(200, type ? { 'content-type': type } : {});
      res.end(POLICY);
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
    expect(e.message).toMatch(/not text\/plain/);
  });

  it('aborts a streamed body larger than 64 KiB', async () => {
    let writes = 0;
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }); // chunked: no length up front
      const chunk = 'x'.repeat(16 * 1024);
      const pump = () => {
        while (!res.destroyed && writes < 1000) {
          writes++;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => {});
      pump();
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.message).toMatch(/larger than 64 KiB/);
    expect(writes).toBeLessThan(1000); // the client hung up instead of reading 16 MB
  });

  it('refuses a declared Content-Length above 64 KiB', async () => {
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(65 * 1024) });
      res.end('x'.repeat(65 * 1024));
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.message).toMatch(/larger than 64 KiB/);
  });

  it('accepts a body of exactly 64 KiB', async () => {
    const body = 'x'.repeat(64 * 1024);
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    };
    await expect(fetchMtaStsPolicyText('example.com', opts(good))).resolves.toHaveLength(64 * 1024);
  });

  it('reports invalid UTF-8 as sts-policy-invalid', async () => {
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.from([0x76, 0xff, 0xfe, 0x0a]));
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good)));
    expect(e.tlsrptFailure).toBe('sts-policy-invalid');
  });

  it('times out on a server that never answers', async () => {
    good.handler = () => {}; // keep the request hanging
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(good, { timeoutMs: 200 })));
    expect(e.code).toBe('TIMEOUT');
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
  });

  it('times out on a TCP peer that never starts TLS', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const e = await fetchError(fetchMtaStsPolicyText('example.com', { ...opts(good), port, connectTimeoutMs: 200 }));
      expect(e.code).toBe('TIMEOUT');
      expect(e.message).toMatch(/connecting/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('reports a self-signed certificate as sts-webpki-invalid', async () => {
    selfSigned.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(POLICY);
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(selfSigned)));
    expect(e.tlsrptFailure).toBe('sts-webpki-invalid');
    expect(e.code).toBe('CERT_INVALID');
    expect(e.message).toMatch(/self-signed/);
    expect(selfSigned.requests).toHaveLength(0);
  });

  it('reports a certificate for another name as sts-webpki-invalid', async () => {
    wrongName.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(POLICY);
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', opts(wrongName)));
    expect(e.tlsrptFailure).toBe('sts-webpki-invalid');
    expect(e.message).toMatch(/different host name/);
    // The same server is fine for the name its certificate carries.
    await expect(fetchMtaStsPolicyText('other.example', opts(wrongName))).resolves.toBe(POLICY);
  });

  it('does not trust the test CA unless it is passed', async () => {
    good.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(POLICY);
    };
    const e = await fetchError(fetchMtaStsPolicyText('example.com', { ...opts(good), ca: undefined }));
    expect(e.tlsrptFailure).toBe('sts-webpki-invalid');
  });

  it('reports a refused connection as sts-policy-fetch-error', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await fetchError(fetchMtaStsPolicyText('example.com', { ...opts(good), port }));
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
    expect(e.code).toBe('CONNECT_FAILED');
  });

  it('reports a failing connectTo as sts-policy-fetch-error', async () => {
    const e = await fetchError(
      fetchMtaStsPolicyText('example.com', {
        ...opts(good),
        connectTo: () => Promise.reject(Object.assign(new Error('no address'), { code: 'ENOTFOUND' })),
      }),
    );
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
  });

  it('rejects an invalid domain without connecting', async () => {
    const before = connectedTo.length;
    const e = await fetchError(fetchMtaStsPolicyText('exa mple..com', opts(good)));
    expect(e.tlsrptFailure).toBe('sts-policy-fetch-error');
    expect(connectedTo.length).toBe(before);
  });

  it('can be aborted', async () => {
    good.handler = () => {};
    const ac = new AbortController();
    const p = fetchMtaStsPolicyText('example.com', opts(good, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    const e = await fetchError(p);
    expect(e.code).toBe('CANCELED');
  });
});
