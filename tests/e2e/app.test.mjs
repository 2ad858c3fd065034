// The app in a real browser: the worker starts and its state is drawn (three
// control-plane nodes running the control plane as static pods, and three
// workers from the default scenario), pause stops simulated time and play resumes
// it, the keyboard works, the console runs commands and reports errors, and the
// trace hash computed by the wasm core in Chromium equals the native one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, serveDist, launchBrowser, openApp, simTime, runConsole, screenshot } from './harness.mjs';

let server, browser, page, errors;

before(async () => {
  server = await serveDist();
  browser = await launchBrowser();
  ({ page, errors } = await openApp(browser, server.url));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('draws the default nodes and the control plane from worker state', async () => {
  const nodes = await page.locator('.node-card h3').allTextContents();
  assert.deepEqual(nodes, ['control-plane', 'control-plane2', 'control-plane3', 'node-1', 'node-2', 'node-3']);
  assert.deepEqual(await page.locator('.node-card.control-plane [data-testid=node-role]').allTextContents(),
    ['control-plane', 'control-plane', 'control-plane']);
  assert.match(await page.locator('.node-card[data-node="node-1"]').textContent(), /4 CPU · 8Gi memory/);
  // The control-plane node runs the control plane as static pods, drawn dashed.
  for (const pod of ['etcd-control-plane', 'kube-apiserver-control-plane', 'kube-controller-manager-control-plane',
    'kube-scheduler-control-plane', 'kube-addon-manager-control-plane']) {
    await page.waitForSelector(`.node-card[data-node="control-plane"] .pod.static.running[data-pod="${pod}"]`, { timeout: 10_000 });
  }
  await page.waitForSelector('.node-card[data-node="control-plane2"] .pod.static.running[data-pod="etcd-control-plane2"]');
  for (const id of ['kube-apiserver', 'etcd-1', 'etcd-2', 'etcd-3', 'kube-scheduler', 'kube-controller-manager',
    'kube-addon-manager']) {
    assert.equal(await page.locator(`[data-component="${id}"]`).count(), 1, id);
  }
  // The kubelets really talk to the apiserver: registration shows up.
  await page.waitForSelector('[data-component="kubelet/node-1"] dd:text("yes")', { timeout: 10_000 });
  // The addon manager's add-ons run as pods: a kube-proxy on every node (the
  // control-plane nodes too), two coredns pods, and the components their
  // containers run.
  await page.waitForFunction(() => document.querySelectorAll('.node-card .pod.running[data-pod^="kube-proxy-"]').length === 6,
    null, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelectorAll('.node-card .pod.running[data-pod^="coredns-"]').length === 2,
    null, { timeout: 20_000 });
  await page.waitForSelector('.node-card [data-component="kube-proxy/node-1"]', { timeout: 10_000 });
  assert.equal(await page.locator('.node-card [data-component^="coredns/coredns-"]').count(), 2);
  assert.match(await page.locator('[data-testid=seed]').textContent(), /seed 1/);
  assert.ok((await page.locator('.msg').count()) > 0, 'traffic panel shows messages');
});

test('pause stops simulated time and play resumes it', async () => {
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=sim-time]').dataset.ms) > 300);
  await page.click('[data-testid=play-pause]');
  await page.waitForSelector('[data-testid=run-state]:text("paused")');
  const paused = await simTime(page);
  await page.waitForTimeout(700);
  assert.equal(await simTime(page), paused, 'time moved while paused');
  await screenshot(page, 'paused.png');

  await page.click('[data-testid=play-pause]');
  await page.waitForSelector('[data-testid=run-state]:text("running")');
  await page.waitForFunction((t) => Number(document.querySelector('[data-testid=sim-time]').dataset.ms) > t + 300, paused);
  assert.ok((await simTime(page)) > paused);
});

test('space toggles play and pause when not typing', async () => {
  await page.locator('body').click({ position: { x: 5, y: 200 } });
  await page.keyboard.press('Space');
  await page.waitForSelector('[data-testid=run-state]:text("paused")');
  await page.keyboard.press('Space');
  await page.waitForSelector('[data-testid=run-state]:text("running")');
});

test('keyboard only: ? lists the shortcuts, / goes to the console, e to the editor, Esc leaves', async () => {
  await page.locator('body').click({ position: { x: 5, y: 200 } });
  await page.keyboard.press('?');
  const dialog = page.locator('[data-testid=help][role=dialog]');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /Space.*play or pause simulated time/);
  assert.match(await dialog.textContent(), /Ctrl\+Enter \(editor\).*apply the manifest/);
  // Focus moves into the dialog; Esc closes it.
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'help-close');
  await screenshot(page, 'help.png');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  // / goes to the console: type a command and run it without the mouse.
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'console-input');
  assert.equal(await page.locator('[data-testid=console-input]').inputValue(), '', 'the / is not typed');
  const before = await page.locator('[data-testid=console-output] pre').count();
  await page.keyboard.type('sim status');
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=console-output] pre')].slice(n)
    .some((p) => p.textContent.includes('kube-apiserver')), before);
  // Esc leaves the field; Space then toggles time again, and e goes to the editor.
  await page.keyboard.press('Escape');
  const state = await page.locator('[data-testid=run-state]').textContent();
  await page.keyboard.press('Space');
  await page.waitForSelector(`[data-testid=run-state]:text("${state === 'running' ? 'paused' : 'running'}")`);
  await page.keyboard.press('Space');
  await page.waitForSelector(`[data-testid=run-state]:text("${state}")`);
  await page.keyboard.press('e');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'yaml-editor');
  assert.doesNotMatch(await page.locator('[data-testid=yaml-editor]').inputValue(), /^e/, 'the e is not typed');
  await page.keyboard.press('Escape');
  // The ? button opens the same list; closing it gives the focus back.
  await page.click('[data-testid=help-button]');
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'help-button');
  await page.keyboard.press('Enter');
  await dialog.waitFor();
  await page.click('[data-testid=help-close]');
  await dialog.waitFor({ state: 'detached' });
});

test('console runs commands and names unknown ones', async () => {
  const out = await runConsole(page, 'frobnicate', 'unknown command');
  assert.match(out, /error: unknown command "frobnicate"/);
  const bad = await runConsole(page, 'sim advance 5x', 'unknown unit');
  assert.match(bad, /time: unknown unit "x" in duration "5x"/);
  const help = await runConsole(page, 'help', 'sim advance DURATION');
  assert.match(help, /sim status/);
});

test('trace hash in wasm equals the native trace hash for the same scenario and seed', async () => {
  const kscope = process.env.KSCOPE_BIN ?? join(ROOT, 'target', 'debug', 'kscope');
  const native = execFileSync(kscope, ['run', '--seed', '7', '--until', '30s'], { encoding: 'utf8' });
  const nativeHash = native.match(/trace hash: ([0-9a-f]{16})/)[1];

  await page.click('[data-testid=play-pause]');
  await page.waitForSelector('[data-testid=run-state]:text("paused")');
  await runConsole(page, 'sim reset --seed 7', 'with seed 7');
  await runConsole(page, 'sim advance 30s', 'advanced 30s');
  const status = await runConsole(page, 'sim status', 'Trace:');
  const wasmHash = status.match(/hash ([0-9a-f]{16})/)[1];
  assert.equal(wasmHash, nativeHash);
  await page.waitForSelector(`[data-testid=trace-hash][data-hash="${nativeHash}"]`);
  assert.equal(await simTime(page), 30_000);
  await screenshot(page, 'app.png');
});

test('with a fourth etcd member (raft walks a 4-peer map), wasm and native traces still agree', async () => {
  // raft-rs iterates its peers in hash-map order, which depends on pointer
  // width; kscope sorts what it sends so 32-bit wasm and 64-bit native agree.
  const lines = [
    'sim reset --seed 11',
    'sim advance 3s',
    'etcdctl member add etcd-4 --peer-urls=https://10.0.0.14:2380',
    'sim start etcd-4',
    'sim advance 20s',
    'etcdctl put k v',
    'sim status',
  ];
  const kscope = process.env.KSCOPE_BIN ?? join(ROOT, 'target', 'debug', 'kscope');
  const native = execFileSync(kscope, ['shell'], { input: lines.join('\n') + '\n', encoding: 'utf8' });
  const nativeHash = native.match(/Trace: +\d+ events, hash ([0-9a-f]{16})/)[1];
  await runConsole(page, lines[0], 'with seed 11');
  await runConsole(page, lines[1], 'advanced 3s');
  await runConsole(page, lines[2], 'ETCD_INITIAL_CLUSTER_STATE');
  await runConsole(page, lines[3], 'etcd-4 started');
  await runConsole(page, lines[4], 'advanced 20s');
  await runConsole(page, lines[5], 'OK');
  const status = await runConsole(page, lines[6], 'Trace:');
  assert.match(status, /etcd-4 +Running +role=follower/);
  assert.equal(status.match(/hash ([0-9a-f]{16})/)[1], nativeHash);
});

test('etcd elects a leader, and killing it from the console elects another', async () => {
  await page.click('[data-testid=play-pause]');
  await page.waitForSelector('[data-testid=run-state]:text("running")');
  await page.waitForSelector('.component.etcd.leader', { timeout: 20_000 });
  assert.equal(await page.locator('.component.etcd.leader').count(), 1, 'exactly one leader is crowned');
  const old = await page.locator('.component.etcd.leader').getAttribute('data-component');
  await runConsole(page, `sim kill ${old}`, `${old} stopped`);
  await page.waitForSelector(`[data-component="${old}"].down`);
  await page.waitForFunction(
    (gone) => [...document.querySelectorAll('.component.etcd.leader')].some((e) => e.dataset.component !== gone),
    old,
    { timeout: 20_000 },
  );
  const put = await runConsole(page, `etcdctl --endpoints=${old === 'etcd-1' ? 'etcd-2' : 'etcd-1'} put greeting hello`, 'OK');
  assert.match(put, /^OK$/m);
  await screenshot(page, 'etcd-failover.png');
  // Bring the old leader back: the later tests use etcdctl's default
  // endpoint (etcd-1), which may be the member that was killed.
  await runConsole(page, `sim start ${old}`, `${old} started`);
  await page.waitForSelector(`[data-component="${old}"]:not(.down)`);
  await runConsole(page, 'etcdctl endpoint health', 'is healthy');
});

test('etcdctl watch streams into the console and Ctrl-C stops it', async () => {
  await runConsole(page, 'etcdctl watch greeting --prev-kv', '$ etcdctl watch');
  await runConsole(page, 'etcdctl --endpoints=etcd-3 put greeting bonjour', 'OK');
  // The event arrives as the simulation runs (it is playing).
  const events = await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid=console-output] pre')].some((p) => p.textContent.startsWith('PUT\ngreeting\nhello\ngreeting\nbonjour')),
    null,
    { timeout: 10_000 },
  );
  assert.ok(events);
  await page.focus('[data-testid=console-input]');
  await page.keyboard.press('Control+c');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=console-output] pre')].some((p) => p.textContent === 'stopped 1 watch'));
});

test('etcdctl txn reads its sections from the following console lines', async () => {
  for (const line of ['etcdctl txn', 'val("greeting") = "bonjour"', '', 'put greeting hola', '', 'put greeting nope']) {
    await page.fill('[data-testid=console-input]', line);
    await page.press('[data-testid=console-input]', 'Enter');
  }
  const out = await runConsole(page, '', 'SUCCESS');
  assert.match(out, /SUCCESS\n\nOK/);
  const get = await runConsole(page, 'etcdctl get greeting --print-value-only', 'hola');
  assert.match(get, /^hola$/m);
});

test('kubectl in the console: a heredoc manifest is applied, listed, described and stored under /registry', async () => {
  await runConsole(page, 'sim advance 3s', 'advanced');
  const manifest = ['kubectl apply -f - <<EOF', 'apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: web',
    'spec:', '  replicas: 2', '  selector:', '    matchLabels: {app: web}', '  template:', '    metadata:',
    '      labels: {app: web}', '    spec:', '      containers: [{name: nginx, image: "nginx:1.27"}]'];
  for (const line of manifest) {
    await page.fill('[data-testid=console-input]', line);
    await page.press('[data-testid=console-input]', 'Enter');
  }
  assert.match(await runConsole(page, 'EOF', 'deployment.apps/web created'), /deployment\.apps\/web created/);
  // The Deployment controller, scheduler and kubelets race the page while
  // the clock runs; after 5 simulated seconds the rollout is complete.
  await runConsole(page, 'sim advance 5s', 'advanced');
  const table = await runConsole(page, 'kubectl get deploy -o wide', 'CONTAINERS');
  assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/m);
  assert.match(table, /^web\s+2\/2\s+2\s+2\s+\d+s\s+nginx\s+nginx:1\.27\s+app=web$/m);
  assert.match(await runConsole(page, 'kubectl describe deploy web', 'RollingUpdateStrategy'), /Replicas:\s+2 desired/);
  const keys = await runConsole(page, 'etcdctl get /registry/deployments --prefix --keys-only', '/registry/deployments/default/web');
  assert.match(keys, /\/registry\/deployments\/default\/web/);
  // What a person sees: the two pods as green boxes inside their nodes.
  await page.waitForFunction(() => document.querySelectorAll('.node-card .pod.running[data-pod^="web-"]').length === 2,
    null, { timeout: 10_000 });
  const err = await runConsole(page, 'kubectl get deploy nope', 'NotFound');
  assert.match(err, /Error from server \(NotFound\): deployments\.apps "nope" not found/);
  await screenshot(page, 'kubectl.png');
});

test('an exposed Deployment shows as a Service card with its ready endpoints', async () => {
  await runConsole(page, 'kubectl expose deployment web --port=80', 'service/web exposed');
  await runConsole(page, 'sim advance 2s', 'advanced');
  const card = page.locator('[data-service="default/web"]');
  await card.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-service="default/web"] .endpoint.ready').length === 2,
    null, { timeout: 10_000 });
  assert.match(await card.textContent(), /ClusterIP 10\.\d+\.\d+\.\d+ · 80\/TCP/);
  assert.match(await card.locator('[data-testid=endpoint-summary]').textContent(), /^2 ready endpoints$/);
  // The endpoints are the pods' IPs, as kubectl shows them.
  const endpoints = await runConsole(page, 'kubectl get endpoints web', 'ENDPOINTS');
  for (const ip of await card.locator('.endpoint').allTextContents()) {
    assert.ok(endpoints.includes(`${ip}:80`), `${ip} in ${endpoints}`);
  }
  await screenshot(page, 'services.png');
});

test('kube-scheduler binds a pod, and sim explain shows why there and why another stays Pending', async () => {
  for (const [name, cpu] of [['small', '500m'], ['huge', '64']]) {
    const lines = ['kubectl apply -f - <<EOF', 'apiVersion: v1', 'kind: Pod', `metadata: {name: ${name}}`, 'spec:',
      `  containers: [{name: c, image: nginx, resources: {requests: {cpu: "${cpu}"}}}]`];
    for (const line of lines) {
      await page.fill('[data-testid=console-input]', line);
      await page.press('[data-testid=console-input]', 'Enter');
    }
    await runConsole(page, 'EOF', `pod/${name} created`);
  }
  // Long enough for a node that lacks nginx to pull it (about 2.2 s with the sandbox).
  await runConsole(page, 'sim advance 5s', 'advanced');
  const wide = await runConsole(page, 'kubectl get pods -o wide', 'NOMINATED');
  // The kubelet pulls nginx and runs it: Running with a pod IP from its node's range.
  assert.match(wide, /^small\s+1\/1\s+Running\s+0\s+\d+s\s+10\.244\.\d+\.\d+\s+node-\d/m);
  assert.match(wide, /^huge\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>/m);
  const explain = await runConsole(page, 'sim explain pod/small', 'TOTAL');
  assert.match(explain, /result: bound to node-\d/);
  assert.match(explain, /NodeResourcesFit/);
  // The pod resolves cluster names through CoreDNS.
  const dns = await runConsole(page, 'sim nslookup small kubernetes.default', 'Address: 10.96.0.1');
  assert.match(dns, /Name:\s+kubernetes\.default\.svc\.cluster\.local/);
  // On screen: small runs inside a node card, huge waits above the nodes.
  await page.waitForSelector('.node-card .pod.running[data-pod="small"]', { timeout: 10_000 });
  assert.match(await page.locator('[data-testid=unscheduled]').textContent(), /Waiting for a node \(1\)[\s\S]*huge[\s\S]*Pending/);
  const why = await runConsole(page, 'sim explain pod/huge', 'result');
  // As on a kubeadm cluster, the control-plane nodes are out for their taint.
  const untolerated = '3 node\\(s\\) had untolerated taint \\{node-role\\.kubernetes\\.io/control-plane: \\}';
  assert.match(why, new RegExp(`0/6 nodes are available: 3 Insufficient cpu, ${untolerated}\\.`));
  const events = await runConsole(page, 'kubectl describe pod huge', 'Events');
  assert.match(events, new RegExp(`Warning\\s+FailedScheduling\\s+\\S+\\s+default-scheduler\\s+0/6 nodes are available: 3 Insufficient cpu, ${untolerated}\\.`));
  await screenshot(page, 'scheduler.png');
});

test('a node whose kubelet dies turns NotReady and tainted on screen, and Ready again when it restarts', async () => {
  const card = page.locator('.node-card[data-node="node-2"]');
  assert.equal(await card.locator('[data-testid=node-status]').textContent(), 'Ready');
  await runConsole(page, 'sim kill kubelet/node-2', 'stopped');
  // 50 s without a heartbeat, and a 5 s monitor period.
  await runConsole(page, 'sim advance 70s', 'advanced');
  await page.waitForFunction(() => document.querySelector('.node-card[data-node="node-2"] [data-testid=node-status]')?.textContent === 'NotReady',
    null, { timeout: 10_000 });
  assert.match(await card.locator('.taints').textContent(), /node\.kubernetes\.io\/unreachable:NoExecute/);
  assert.match(await card.getAttribute('class'), /not-ready/);
  await screenshot(page, 'node-not-ready.png');
  await runConsole(page, 'sim start kubelet/node-2', 'started');
  await runConsole(page, 'sim advance 20s', 'advanced');
  await page.waitForFunction(() => document.querySelector('.node-card[data-node="node-2"] [data-testid=node-status]')?.textContent === 'Ready',
    null, { timeout: 10_000 });
  assert.equal(await card.locator('.taints').count(), 0);
});

test('a killed etcd member shows in its static pod on the control-plane node, and recovers', async () => {
  await runConsole(page, 'sim kill etcd-2', 'stopped');
  await runConsole(page, 'sim advance 15s', 'advanced');
  await page.waitForFunction(() => ['CrashLoopBackOff', 'Error'].includes(
    document.querySelector('.pod[data-pod="etcd-control-plane2"]')?.dataset.status), null, { timeout: 10_000 });
  assert.match(await page.locator('.pod[data-pod="etcd-control-plane2"]').getAttribute('class'), /failed/);
  const pods = await runConsole(page, 'kubectl get pods -n kube-system', 'etcd-control-plane2');
  assert.match(pods, /^etcd-control-plane2\s+0\/1\s+(CrashLoopBackOff|Error)\s+[1-9]/m);
  await screenshot(page, 'etcd-member-killed.png');
  await runConsole(page, 'sim restart etcd-2', 'restarted');
  await runConsole(page, 'sim advance 3s', 'advanced');
  await page.waitForSelector('.pod.running[data-pod="etcd-control-plane2"]', { timeout: 10_000 });
});

test('the Add node button brings a worker in, and its remove button takes it out', async () => {
  await page.click('[data-testid=add-node]');
  // The button types its command into the console, and the node registers.
  await page.waitForSelector('.console :text("sim add node node-4")', { timeout: 10_000 });
  await runConsole(page, 'sim advance 3s', 'advanced');
  await page.waitForFunction(() => document.querySelector('.node-card[data-node="node-4"] [data-testid=node-status]')?.textContent === 'Ready',
    null, { timeout: 10_000 });
  await screenshot(page, 'node-added.png');
  await page.click('button[aria-label="Remove node-4"]');
  await page.waitForSelector('.node-card[data-node="node-4"]', { state: 'detached', timeout: 10_000 });
  assert.match(await runConsole(page, 'kubectl get nodes', 'NAME'), /^(?![\s\S]*node-4)/);
  // Control-plane nodes have no remove button.
  assert.equal(await page.locator('.node-card.control-plane .remove-node').count(), 0);
});

test('the YAML editor applies a Deployment whose pods go Running, and marks the line of a bad manifest', async () => {
  const editor = page.locator('[data-testid=yaml-editor]');
  // It opens with an example Deployment; Apply sends it as kubectl apply -f -.
  assert.match(await editor.inputValue(), /kind: Deployment[\s\S]*name: nginx-deployment/);
  await page.click('[data-testid=apply-yaml]');
  await page.waitForSelector('[data-testid=apply-result][role=status]:text("deployment.apps/nginx-deployment created")');
  await page.waitForSelector('.console :text("kubectl apply -f - <<EOF")');
  await runConsole(page, 'sim advance 20s', 'advanced');
  await page.waitForFunction(() => document.querySelectorAll('.node-card .pod.running[data-pod^="nginx-deployment-"]').length === 3,
    null, { timeout: 10_000 });
  const pods = await runConsole(page, 'kubectl get deploy nginx-deployment', 'READY');
  assert.match(pods, /^nginx-deployment\s+3\/3\s+3\s+3\s/m);
  await screenshot(page, 'editor-applied.png');

  // A syntax error: kubectl's message, the line marked, "Go to line" selects it.
  await editor.fill('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  bad: : :\n');
  await editor.press('Control+Enter');
  const alert = page.locator('[data-testid=apply-result][role=alert]');
  await alert.waitFor();
  assert.match(await alert.textContent(), /error parsing STDIN: error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this context/);
  assert.equal(await page.locator('.editor .gutter .bad').textContent(), '5\n');
  assert.equal(await editor.getAttribute('aria-invalid'), 'true');
  await page.click('[data-testid=go-to-line]');
  const selected = await editor.evaluate((el) => el.value.slice(el.selectionStart, el.selectionEnd));
  assert.equal(selected, '  bad: : :');
  await screenshot(page, 'editor-error.png');
  // Nothing was created, and the Deployment is untouched.
  assert.match(await runConsole(page, 'kubectl get configmap broken', 'NotFound'), /configmaps "broken" not found/);
  // Editing the text clears the mark (the error was about the old text).
  await editor.fill('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fixed\n');
  assert.equal(await page.locator('.editor .gutter .bad').count(), 0);
  await page.click('[data-testid=apply-yaml]');
  await page.waitForSelector('[data-testid=apply-result][role=status]:text("configmap/fixed created")');
  await runConsole(page, 'kubectl delete deployment nginx-deployment', 'deleted');
});

test('no errors in the page', () => {
  assert.deepEqual(errors, []);
});
