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

    // compare: the same request under the two Flannel modes with kube-proxy iptables
    await page.click('#tabs button[data-tab="compare"]');
    for (const m of ['calico-bgp', 'calico-ipip', 'calico-ipip-crosssubnet', 'calico-vxlan', 'calico-vxlan-crosssubnet']) await page.uncheck(`input.cmp-mode[value="${m}"]`);
    await page.uncheck('input.cmp-proxy[value="ipvs"]');
    await page.click('#cmp-go');
    await page.waitForSelector('#cmp-table tr[data-row]', { timeout: 20_000 });
    const rows = await page.locator('#cmp-table tr[data-row]').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.row));
    expect(rows).toEqual(['flannel-vxlan/iptables', 'flannel-host-gw/iptables']);
    // VXLAN's pods get eth0 MTU 1500 - 50, host-gw's the underlay's 1500
    const cells = await page.locator('#cmp-table tr[data-row]').evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(cells.map((c) => [c[2], c[6]])).toEqual([
      ['delivered', '1450'],
      ['delivered', '1500'],
    ]);
    expect(await page.locator('#tab-compare pre').innerText()).toMatch(/^MODE +PROXY +DISPOSITION/);
    await page.screenshot({ path: 'test-output/inspector-compare.png' });
    expect(errors).toEqual([]);
  });

  test('switch flannel → Calico BGP in the cni & kube-proxy editor: trace delivers over BGP-learned routes; bgp and ipvs views', async () => {
    const inspector = await Inspector.open('topologies/flannel-vxlan.yaml');
    const srv = await serveInspector(inspector, { port: 0 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${srv.url}#trace?from=pod%2Fdefault%2Fclient&to=svc%2Fdefault%2Fweb%3A80&all=1`);
      await page.waitForSelector('#outcomes .outcome');
      // the node panel offers every podpath rules --what
      await page.click('#tabs button[data-tab="node"]');
      const whats = await page.locator('#what-sel option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
      expect(whats).toEqual(expect.arrayContaining(['tables', 'ipvs', 'ipset', 'bgp', 'bgp-log', 'routes', 'conntrack']));
      await page.selectOption('#node-sel', 'node-1');

      // the editor's cluster section: flannel vxlan → calico bgp
      await page.click('#tabs button[data-tab="objects"]');
      await page.locator('#objlist .it', { hasText: 'cni & kube-proxy' }).click();
      await page.waitForFunction(() => (document.getElementById('yaml') as HTMLTextAreaElement | null)?.value.includes('plugin: flannel'));
      const yaml = await page.inputValue('#yaml');
      await page.fill('#yaml', yaml.replace('plugin: flannel', 'plugin: calico').replace('mode: vxlan', 'mode: bgp'));
      await page.click('#obj-apply');
      await page.waitForFunction(() => /calico bgp/.test(document.getElementById('legend')?.textContent ?? ''), undefined, { timeout: 10_000 });
      await page.waitForFunction(() => /calico bgp · kube-proxy iptables/.test(document.getElementById('topo-name')?.textContent ?? ''));
      await page.click('#tabs button[data-tab="trace"]');
      // a web pod on another node is reached through a route BIRD learned from that node
      await page.waitForFunction(() => document.querySelector('#hops') !== null && document.querySelectorAll('#outcomes .outcome').length === 3);
      let bgpHop = false;
      for (let o = 0; o < 3 && !bgpHop; o++) {
        await page.locator('#outcomes .outcome').nth(o).click();
        bgpHop = (await page.locator('#hops .badge.bgp').count()) > 0;
      }
      expect(bgpHop).toBe(true);
      expect(await page.locator('#outcomes').innerText()).not.toMatch(/neighbour|dropped|no-route/);
      await page.locator('#hops .hop', { has: page.locator('.badge.bgp') }).first().locator('.hop-h').click();
      expect(await page.locator('.hop.cur .step.route.bgp').first().innerText()).toMatch(/via 192\.168\.56\.1[123] dev eth0 proto bird[\s\S]*BGP-learned/);
      mkdirSync('test-output', { recursive: true });
      await page.screenshot({ path: 'test-output/inspector-calico-bgp.png' });

      // node panel: birdc's sessions, and the routes BIRD added in this change's diff
      await page.click('#tabs button[data-tab="node"]');
      await page.waitForSelector('#tab-node .diff-add');
      expect(await page.locator('#tab-node .events').first().innerText()).toMatch(/\+ route 10\.244\.\d+\.\d+\/26 via 192\.168\.56\.1\d dev eth0 proto bird/);
      await page.selectOption('#what-sel', 'bgp');
      await page.waitForFunction(() => /Established/.test(document.getElementById('node-dump')?.textContent ?? ''));

      // kube-proxy → IPVS: the diff lists virtual and real servers, each linked to its Service / EndpointSlice
      await page.click('#tabs button[data-tab="objects"]');
      await page.locator('#objlist .it', { hasText: 'cni & kube-proxy' }).click();
      await page.waitForFunction(() => (document.getElementById('yaml') as HTMLTextAreaElement | null)?.value.includes('plugin: calico'));
      await page.fill('#yaml', (await page.inputValue('#yaml')).replace('mode: iptables', 'mode: ipvs'));
      await page.click('#obj-apply');
      await page.click('#tabs button[data-tab="node"]');
      await page.waitForSelector('#tab-node .diff-add.ipvs');
      const vs = page.locator('#tab-node .diff-add.ipvs', { hasText: /\[ipvs\] -A -t 10\.96\.100\.10:80 -s rr/ });
      expect(await vs.locator('a.obj').first().innerText()).toBe('Service default/web');
      const rs = page.locator('#tab-node .diff-add.ipvs', { hasText: /\[ipvs\] -a -t 10\.96\.100\.10:80 -r 10\.244\.\d+\.\d+:8080 -m -w 1/ });
      expect(await rs.count()).toBe(3);
      expect(await rs.first().locator('a.obj').first().innerText()).toMatch(/^EndpointSlice default\/web-/);
      expect(await page.locator('#tab-node .diff-add.ipset', { hasText: 'add KUBE-CLUSTER-IP 10.96.100.10,tcp:80' }).count()).toBe(1);
      await page.selectOption('#what-sel', 'ipvs');
      await page.waitForFunction(() => /TCP {2}10\.96\.100\.10:80 rr/.test(document.getElementById('node-dump')?.textContent ?? ''));
      await page.screenshot({ path: 'test-output/inspector-ipvs-diff.png' });
      expect(errors).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});
