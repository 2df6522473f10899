/** Remembers the main window's bounds and maximized state between runs (a small JSON file). */
import fs from 'node:fs';
import path from 'node:path';

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

const DEFAULT: WindowState = { width: 1200, height: 800, maximized: false };

export function loadWindowState(dir: string): WindowState {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'window-state.json'), 'utf8')) as Partial<WindowState>;
    const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n);
    return {
      ...(ok(raw.x) && ok(raw.y) ? { x: raw.x!, y: raw.y! } : {}),
      width: ok(raw.width) ? Math.max(640, raw.width!) : DEFAULT.width,
      height: ok(raw.height) ? Math.max(480, raw.height!) : DEFAULT.height,
      maximized: raw.maximized === true,
    };
  } catch {
    return DEFAULT;
  }
}

export function saveWindowState(dir: string, state: WindowState): void {
  try {
    fs.writeFileSync(path.join(dir, 'window-state.json'), JSON.stringify(state));
  } catch {
    // Losing the window position is harmless; never block quitting on it.
  }
}
