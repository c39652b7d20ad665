#!/usr/bin/env node
// The "system browser" for the login tests: headless Chromium (Debian's) driven by
// playwright-core. Opens the authorization URL given as argument, signs in on the provider's
// dev login form as $OIDC_TEST_LOGIN (default "alice"), consents, and waits until the browser
// reaches the loopback redirect (the app's callback page) or fails. Exits non-zero on failure.
import { chromium } from 'playwright-core';

const url = process.argv[2];
const login = process.env.OIDC_TEST_LOGIN || 'alice';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any-password');
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type=submit]')]);
  // Consent page (first login only), then the redirect to the loopback callback.
  if (await page.locator('input[name=prompt][value=consent]').count()) {
    await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/, { waitUntil: 'domcontentloaded' }), page.click('button[type=submit]')]);
  }
  await page.waitForURL(/\/callback\?/, { timeout: 15000 });
  console.error(`browser: reached ${new URL(page.url()).pathname}: ${(await page.textContent('body')).slice(0, 80)}`);
} catch (e) {
  console.error(`browser: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
