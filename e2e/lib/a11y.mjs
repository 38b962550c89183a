// Accessibility checks for the browser tests: axe-core (pinned in e2e/package.json) run in
// the page under test, and a readable report of what it found.
//
// axe is not served by printwarden: the server's Content-Security-Policy allows only its own
// scripts, and that stays so. The test reads axe.min.js from node_modules and evaluates it
// through the browser's debugging protocol (playwright's evaluate), which the page's CSP does
// not govern, so the page under test is exactly the page a user gets.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The impacts that fail a test (WCAG 2.2 AA is the bar; "minor" and "moderate" are reported only). */
export const FAILING_IMPACTS = ['serious', 'critical'];

/** The rule tags axe checks: WCAG 2.0/2.1/2.2 A and AA, plus axe's best practices. */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/**
 * Runs axe on the page's current document and resolves to the serious and critical
 * violations, one entry per rule with the selectors of the nodes it failed on.
 *
 * @param {import('playwright-core').Page} page
 * @returns {Promise<Array<{id: string, impact: string, help: string, nodes: Array<{target: string, summary: string}>}>>}
 */
export async function axeViolations(page) {
  const injected = await page.evaluate(() => typeof window.axe === 'object');
  if (!injected) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({
        impact: n.impact,
        target: n.target.map(String).join(' '),
        summary: (n.failureSummary || '').replace(/\s+/g, ' ').trim(),
      })),
    }));
  }, TAGS);
  return result
    .map((v) => ({ ...v, nodes: v.nodes.filter((n) => FAILING_IMPACTS.includes(n.impact ?? v.impact)) }))
    .filter((v) => v.nodes.length > 0);
}

/** A readable, multi-line report of axe violations (rule, what to fix, where). */
export function formatViolations(where, violations) {
  const lines = [];
  for (const v of violations) {
    lines.push(`${where}: [${v.impact}] ${v.id}: ${v.help}`);
    for (const n of v.nodes.slice(0, 8)) lines.push(`    ${n.target}\n      ${n.summary.slice(0, 400)}`);
    if (v.nodes.length > 8) lines.push(`    … and ${v.nodes.length - 8} more`);
  }
  return lines.join('\n');
}

/**
 * The page's theme: printwarden follows `prefers-color-scheme`, so the test emulates it
 * (CDP Emulation.setEmulatedMedia under playwright's emulateMedia), and waits until the
 * colour transitions it started have ended.
 *
 * @param {import('playwright-core').Page} page
 * @param {'light' | 'dark'} scheme
 */
export async function setTheme(page, scheme) {
  await page.emulateMedia({ colorScheme: scheme });
  // Switching on an open page starts the colour transitions; axe must judge where they end,
  // not a blend half way.
  await page.waitForFunction(
    () => document.getAnimations().filter((a) => a instanceof CSSTransition).length === 0,
    null,
    { timeout: 5_000 },
  );
}

/** Whether the document is wider than the viewport, with the widest offenders when it is. */
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const vw = window.innerWidth;
    const width = document.documentElement.scrollWidth;
    if (width <= vw) return null;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right > vw + 1 && r.width > 0) {
        const id = el.id ? `#${el.id}` : '';
        const cls = typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
        wide.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(r.right)}`);
      }
    }
    return { scrollWidth: width, innerWidth: vw, offenders: wide.slice(0, 10) };
  });
}
