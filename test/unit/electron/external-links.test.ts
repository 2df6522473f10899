/** Issue 11 §3: shell.openExternal only for https links to public hosts (src-main/external-links.ts). */
import { expect, test } from 'vitest';
import { isSafeExternalUrl } from '../../../src-main/external-links';

test.each([
  'https://example.org/',
  'https://mta-sts.example.net/.well-known/mta-sts.txt',
  'https://www.rfc-editor.org/rfc/rfc8461#section-3.2',
  'https://8.8.8.8/',
  'https://[2001:4860:4860::8888]/',
  'https://bücher.example/',
])('opens %s', (url) => {
  expect(isSafeExternalUrl(url)).toBe(true);
});

test.each([
  'file:///etc/passwd',
  'file://server/share/x.exe',
  'http://example.org/',
  'ms-msdt:/id PCWDiagnostic',
  'smb://attacker.example/share',
  'vscode://file/etc/passwd',
  'javascript:alert(1)',
  'data:text/html,<script>1</script>',
  'https://user:pass@example.org/',
  'https://localhost/',
  'https://localhost./',
  'https://printer.local/',
  'https://router/',
  'https://127.0.0.1/',
  'https://0x7f.1/',
  'https://2130706433/',
  'https://10.1.2.3/',
  'https://172.16.0.1/',
  'https://192.168.1.1/admin',
  'https://169.254.169.254/latest/meta-data/',
  'https://100.64.0.1/',
  'https://0.0.0.0/',
  'https://[::1]/',
  'https://[fe80::1]/',
  'https://[fd00::1]/',
  'https://[::ffff:192.168.0.1]/',
  'https://[::ffff:7f00:1]/',
  'not a url',
  '',
  'https://' + 'a'.repeat(2100) + '.example/',
])('refuses %s', (url) => {
  expect(isSafeExternalUrl(url)).toBe(false);
});

test('refuses what is not a string', () => {
  for (const v of [null, undefined, 42, { href: 'https://example.org/' }]) expect(isSafeExternalUrl(v)).toBe(false);
});
