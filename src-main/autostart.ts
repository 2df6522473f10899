/**
 * "Open at login (in the tray)" on Linux, where Electron's app.setLoginItemSettings does
 * nothing: an XDG autostart entry (freedesktop Desktop Application Autostart Specification:
 * $XDG_CONFIG_HOME/autostart/NAME.desktop, a Desktop Entry Specification file). macOS and
 * Windows use the login item (lifecycle.ts loginItemSettings). No Electron here: tested under
 * Node with a temporary config folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const AUTOSTART_NAME = 'direct-outbox.desktop';

/** $XDG_CONFIG_HOME, or ~/.config when unset or not absolute (the spec's rule). */
export function configHome(env: NodeJS.ProcessEnv = process.env): string {
  const x = env.XDG_CONFIG_HOME;
  return x && path.isAbsolute(x) ? x : path.join(os.homedir(), '.config');
}

export function autostartPath(config: string): string {
  return path.join(config, 'autostart', AUTOSTART_NAME);
}

/**
 * Desktop Entry Exec quoting: an argument with a reserved character is double-quoted, and
 * inside quotes `"`, `` ` ``, `$` and `\` are backslash-escaped; `%` is doubled (field codes).
 */
export function execArgument(arg: string): string {
  const escaped = arg.replace(/%/g, '%%');
  if (!/[\s"'\\><~|&;$*?#()`]/.test(escaped)) return escaped;
  return `"${escaped.replace(/["`$\\]/g, (c) => `\\${c}`)}"`;
}

export function autostartEntry(exec: readonly string[]): string {
  if (exec.length === 0 || exec.some((a) => /[\r\n\0]/.test(a))) throw new Error('autostart command must be one line');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Direct Outbox',
    'Comment=Keeps sending queued mail (in the tray)',
    `Exec=${exec.map(execArgument).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Writes or removes the autostart entry; returns whether it is now present. */
export function setLinuxAutostart(enabled: boolean, opts: { config: string; exec: readonly string[] }): boolean {
  const file = autostartPath(opts.config);
  if (!enabled) {
    fs.rmSync(file, { force: true });
    return false;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, autostartEntry(opts.exec), { mode: 0o644 });
  fs.renameSync(tmp, file);
  return true;
}
