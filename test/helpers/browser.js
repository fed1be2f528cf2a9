// Headless Chromium for the dashboard's end-to-end tests: Debian's chromium package driven by
// playwright-core (no browser download: `npm test` installs the package, scripts/test-tools.js).
import { chromium } from 'playwright-core';
import { onPath } from '../../scripts/test-tools.js';
import { scaled } from './slow.js';

// No network but loopback, no first-run or background work: a quiet, fast browser.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Debian's chromium with a fresh profile; throws (the tests fail, never skip) when it is missing. */
export async function launchChromium() {
  const executablePath = onPath('chromium');
  if (!executablePath) {
    throw new Error(
      "chromium is not on PATH: the dashboard tests need Debian's chromium (npm test installs it as root; or apt-get install --no-install-recommends chromium)",
    );
  }
  return chromium.launch({ executablePath, headless: true, args: ARGS });
}

/** A page in a fresh context, closed at teardown, whose console errors and uncaught errors are kept in `errors`. */
export async function watchedPage(t, browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return { page, errors };
}

/**
 * Waits until the element at `selector` has exactly `text`; on timeout the error says what it had.
 * An upper bound, not a figure the tests assert: 10 s, since the first text after a page load once
 * took just over 5 s (the browser starting beside three other test files on two cores), and was
 * there when the error was written.
 */
export async function waitText(page, selector, text, timeout = scaled(10_000)) {
  try {
    await page.waitForFunction(([s, want]) => document.querySelector(s)?.textContent === want, [selector, text], { timeout, polling: 50 });
  } catch (err) {
    const had = await page.evaluate((s) => document.querySelector(s)?.textContent ?? '(no such element)', selector);
    throw new Error(`${selector}: expected ${JSON.stringify(text)}, still ${JSON.stringify(had)} after ${timeout} ms`, { cause: err });
  }
}
