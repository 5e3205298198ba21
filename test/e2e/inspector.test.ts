import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Inspector, serveInspector, type RunningServer } from '../../src/server/index.js';

/**
 * The inspector in a real browser: Debian's chromium driven by playwright-core. Opens the UI, traces
 * the client pod to the web Service, checks the hops and rules shown, scales web to 1 in the YAML
 * editor and waits for the trace to change, and saves a screenshot under test-output/.
 */
const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have) console.warn('\n*** SKIPPED: the inspector browser test needs /usr/bin/chromium (apt-get install chromium) ***\n');

describe.skipIf(!have)('inspector in headless Chromium', () => {
  let server: RunningServer;
  let profile: string;
  let browser: import('playwright-core').BrowserContext;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-ui.mjs'], { stdio: 'pipe' });
    const inspector = await Inspector.open('topologies/default.yaml');
    server = await serveInspector(inspector, { port: 0 });
    profile = mkdtempSync(join(tmpdir(), `pp${process.pid}-chromium-`));
    const { chromium } = await import('playwright-core');
    // a fresh profile directory per run (launchPersistentContext passes it as --user-data-dir)
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      viewport: { width: 1600, height: 1000 },
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('trace client → web, see hops and rules, scale web to 1 and see the trace change', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('#status .dot.on');
    await page.fill('#f-from', 'pod/default/client');
    await page.fill('#f-to', 'svc/default/web:80');
    await page.check('#f-all');
    await page.click('#f-go');
    // three web replicas: three outcomes of 1/3 each, all delivered
    await page.waitForSelector('#outcomes .outcome');
    expect(await page.locator('#outcomes .outcome').count()).toBe(3);
    expect(await page.locator('#outcomes').innerText()).toContain('33.3%');
    expect(page.url()).toContain('#trace?from=pod%2Fdefault%2Fclient');
    // the hop on node-1's host namespace shows kube-proxy's Service rules with table and chain
    // an outcome whose endpoint runs on another node: client netns, node-1, node-N, the web pod
    let hops: string[] = [];
    for (let o = 0; o < 3; o++) {
      await page.locator('#outcomes .outcome').nth(o).click();
      hops = await page.locator('#hops .hop').allInnerTexts();
      if (hops.length >= 4) break;
    }
    expect(hops.length).toBeGreaterThanOrEqual(4);
    expect(hops.join('\n')).toMatch(/default\/client @ node-1/);
    let found = false;
    for (let i = 0; i < hops.length && !found; i++) {
      await page.locator(`#hops .hop[data-hop="${i}"] .hop-h`).click();
      const text = await page.locator('.hop.cur').innerText();
      if (/KUBE-SVC-/.test(text) && /nat\/KUBE-SERVICES/.test(text)) found = true;
    }
    expect(found).toBe(true);
    expect(await page.locator('.hop.cur .step.nat').first().innerText()).toMatch(/DNAT 10\.96\.100\.10:80 → 10\.244\.\d+\.\d+:8080/);
    // encapsulation is marked on the hop that sends through flannel.1 (web pods on other nodes)
    expect(await page.locator('#hops').innerText()).toMatch(/encap/);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/inspector-trace.png' });

    // node panel: iptables with the rules this trace hit highlighted, linked to their Service
    await page.locator('#hops .hop-h a.obj').first().click();
    await page.waitForSelector('#node-dump .rl.hit');
    expect(await page.locator('#node-dump .rl.hit').count()).toBeGreaterThan(1);
    expect(await page.locator('#node-dump .rl.hit a.obj').first().innerText()).toMatch(/^(Service|EndpointSlice) default\/web/);

    // the editor: scale web to 1
    await page.click('#tabs button[data-tab="objects"]');
    await page.locator('#objlist .it[data-key="Deployment/default/web"]').click();
    await page.waitForFunction(() => (document.getElementById('yaml') as HTMLTextAreaElement | null)?.value.includes('replicas: 3'));
    const yaml = await page.inputValue('#yaml');
    await page.fill('#yaml', yaml.replace(/replicas: 3/, 'replicas: 1'));
    const t0 = Date.now();
    await page.click('#obj-apply');
    await page.click('#tabs button[data-tab="trace"]');
    await page.waitForFunction(() => document.querySelectorAll('#outcomes .outcome').length === 1, undefined, { timeout: 5000 });
    const took = Date.now() - t0;
    expect(await page.locator('#outcomes').innerText()).toContain('100%');
    expect(took).toBeLessThan(5000);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/inspector-scaled.png' });
    expect(errors).toEqual([]);
  });
});
