/**
 * Theme: 'system' follows the OS (prefers-color-scheme in styles.css); 'light' and 'dark'
 * override it through a data-theme attribute on <html> (no inline styles: strict CSP).
 */
import type { Settings } from '../../shared/domain';

export function applyTheme(theme: Settings['theme']): void {
  const root = document.documentElement;
  if (theme === 'system') delete root.dataset.theme;
  else root.dataset.theme = theme;
}
