/**
 * One check for a view as it is on screen, used by every browser test that adds a view or a
 * state: axe (WCAG 2.1 A/AA rules) finds no serious or critical violation in light and in dark,
 * and a screenshot at 1280×800 and 900×700 of each theme — to docs/screenshots/ with
 * DOCS_SCREENSHOTS=1 (the README's), else to test/e2e/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { screenshotDir } from './browser';

const docsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
export const outDir = process.env.DOCS_SCREENSHOTS ? docsDir : screenshotDir;
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 900, height: 700 },
];
export const THEMES = ['light', 'dark'] as const;

/** axe on the page as it is, in both themes, plus the screenshots `<name>-<theme>-<w>x<h>.png`; asserts. */
export async function checkView(page: Page, name: string, prepare?: () => Promise<void>): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme });
    await page.setViewportSize(VIEWPORTS[0]!);
    await prepare?.();
    // Let transitions settle before measuring contrast.
    await page.waitForTimeout(150);
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const bad = results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => `${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(1, 2).join('')}`).join(' | ')}`);
    expect(bad, `${name}, ${theme}`).toEqual([]);
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      await page.waitForTimeout(100);
      await page.screenshot({ path: path.join(outDir, `${name}-${theme}-${vp.width}x${vp.height}.png`) });
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(VIEWPORTS[0]!);
}
