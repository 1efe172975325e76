// Browser end-to-end test of rooms over several servers: three nodes of the real mcu binary sharing one
// Redis (-redis), and three headless Chromium participants that each load the page from a different node.
//
// How to run (the Makefile's e2e target runs it with the others):
//
//   make build                                  # builds bin/mcu
//   cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test cluster.test.js
//
// Needs what conference.test.js needs (Node 20+, Debian's Chromium) and Debian's redis-server and redis-cli
// (apt-get install redis-server; REDIS_SERVER / REDIS_CLI to override the paths).
//
// What it does, and what each check proves:
// 1. Starts redis-server on a unix socket in a temp dir (no TCP port, no persistence) and three nodes on
//    127.0.0.1 at free ports, each with -redis unix://SOCKET, -node-id nodeN, -public-url http://ADDR (the
//    address the pages load from, so that the owner's WebSocket accepts the other nodes' pages as
//    origins) and an admin token; GET /api/v1/nodes lists the three, serving.
// 2. P1, P2 and P3 (conference.test.js's fixtures: a colour and a tone each) load room R from node1, node2
//    and node3, one after the other. Asserted:
//    - Redis's lease of R names node1: P1 came first, to a node with capacity, which claims a new room
//      itself (cluster.Place);
//    - node1's /metrics says it owns R (mcu_room_owner) and its /api/v1/rooms lists R with P1, P2 and P3;
//      node2 and node3 serve no room: every participant is on the owner;
//    - P2's and P3's pages opened a WebSocket to their own node first and hold their open one on node1
//      (the "moved" answer followed; Playwright's websocket events, the page exposes no socket URL);
//    - media by content: each page's composite is the 2-tile grid of the two others' colours (earlier
//      joiner left) and its sound holds the two others' tones but not its own: one mixed room, not three.
// 3. kill -9 of node1. P2 and P3 reconnect by themselves (the page retries its own node, which finds the
//    owner's record gone and takes the room over) and the room forms again on node2 or node3: each sees
//    the other's colour on the 1-tile composite, hears the other's tone and neither its own nor P1's, and
//    the lease, /metrics and /api/v1/rooms name the new owner. The time from the kill to both pages seeing
//    each other is printed (t.diagnostic), not asserted beyond a generous FAILOVER_DEADLINE_MS. P1's page,
//    whose server is gone, must say it is disconnected and retrying (or has given up), never joined.
// 4. GET /api/v1/nodes on each survivor lists exactly node2 and node3 once node1's record expired (NodeTTL).
// 5. Drain: SIGTERM of R's new owner (-drain-timeout 30s). /api/v1/nodes shows it "draining"; a join of a
//    new room through it is answered "moved" to the other survivor (no new rooms on a draining node); and
//    a few seconds after the signal it still serves R: both pages still see each other, on the same
//    WebSocket as before. The test then kills it rather than wait for the drain timeout.
// On failure: what each page sees (state, status, banner, sockets, composite), each node's log tail and the
// lease, and the usual artifacts (node logs, consoles, screenshots) in a temp dir.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, MCU_BIN } from './harness.js';
import { api as nodeAPI, describePage, leaseOf, openSocket, stateOf, trackSockets } from './nodes.js';
import {
  Fatal, PARTICIPANTS, freePort, nearestColour, pageMeasureTones, pageSampleColours, sleep, tilePatches,
  toneVerdict, waitFor, writeFixtures,
} from './helpers.js';

const TEST_TIMEOUT_MS = 170000;
/** How long the two surviving pages may take to see each other again after the kill (measured: see the report). */
const FAILOVER_DEADLINE_MS = 60000;
/** How long after SIGTERM the draining owner must still serve the room before the test kills it. */
const DRAIN_HOLD_MS = 4000;
/** Thresholds of conference.test.js (see there for where they come from). */
const MAX_CHANNEL_SHIFT = 70;
const TONE_OVER_FLOOR_DB = 30;
const OWN_TONE_BELOW_DB = 25;
/** The operators' API token the nodes are started with. */
const ADMIN_TOKEN = `e2e-cluster-${process.pid}-${Date.now().toString(36)}-admin-token`;
/** cluster.DefaultConfig's key prefix: the lease of room R is mcu:lease:R. */
const KEY_PREFIX = 'mcu:';

const h = new Harness('cluster');
after(() => h.tearDown());

/** @type {string} the redis socket */
let redisSock = '';
/** @type {string} the room */
let room = '';

// ---- what the servers say ----

/** GET an /api/v1 path of a node with the admin token (nodes.js api). */
const api = (node, path) => nodeAPI(node, path, ADMIN_TOKEN);

/** The rooms a node serves, as "ROOM: P1,P2" strings. */
async function roomsOf(node) {
  const rooms = await api(node, '/api/v1/rooms');
  return rooms.map((r) => `${r.name}: ${r.participants.map((p) => p.name).sort().join(',')}`);
}

/** The nodes a node's registry lists, as "ID state participants/rooms". */
async function nodesOf(node) {
  const nodes = await api(node, '/api/v1/nodes');
  return nodes.map((n) => ({ id: n.id, url: n.url, state: n.state, participants: n.participants, rooms: n.rooms }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** The mcu_room_owner series of a node's /metrics for the room: the node label of each. */
async function ownerMetric(node) {
  const r = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(3000) });
  const text = await r.text();
  return text.split('\n').filter((l) => l.startsWith('mcu_room_owner{') && l.includes(`room="${room}"`) && /\s1$/.test(l))
    .map((l) => /node="([^"]*)"/.exec(l)?.[1] || '?');
}

/** Redis's lease of the room: {token, node, url}, or null when it has none. */
const lease = () => leaseOf(h, redisSock, KEY_PREFIX, room);

// ---- what the pages say ----

/** Every page, the lease, and each node's log tail. */
async function describeAll() {
  const pages = await Promise.all(h.peers.map(describePage));
  const l = await lease().catch((err) => err.message);
  return `${pages.join('\n')}\nlease of ${room}: ${JSON.stringify(l)}\n${h.nodes.map((n) => h.nodeTail(n, 12)).join('\n')}`;
}

/** Waits, with the whole picture on failure. */
function wait(what, fn, timeoutMs, intervalMs = 200) {
  return waitFor(what, fn, { timeoutMs, intervalMs, describe: describeAll });
}

/**
 * What a page's composite shows against the grid of the participants `want` (indexes, left to right):
 * {ok, text}. With solo, want is one participant who must fill the whole picture (the 1-tile layout): the
 * centre and where the two tiles of a 2-tile grid would be all show that colour, so that a last frame of
 * a larger grid never passes.
 * @param {any} peer @param {number[]} want @param {boolean} [solo]
 */
async function sees(peer, want, solo = false) {
  const patches = solo ? [...tilePatches(1), ...tilePatches(2)] : tilePatches(want.length);
  if (solo) want = patches.map(() => want[0]);
  const s = await peer.page.evaluate(pageSampleColours, { selector: '#composite', patches });
  const got = s.colours.map((c) => ({ rgb: c, ...nearestColour(c) }));
  const text = `${s.width}x${s.height}: ${got.map((g) => `rgb(${g.rgb}) ~ ${PARTICIPANTS[g.index]?.name} (off ${g.maxChannel})`).join('; ')}`;
  const ok = s.width > 0 && got.length === want.length && got.every((g, j) => g.index === want[j] && g.maxChannel <= MAX_CHANNEL_SHIFT);
  return { ok, text };
}

/** Waits until a page's composite shows the participants `want` (indexes, left to right; see sees for solo). */
async function waitSees(peer, want, timeoutMs, solo = false) {
  let last = '';
  try {
    const what = solo ? `${PARTICIPANTS[want[0]].name} alone, full frame` : want.map((k) => PARTICIPANTS[k].name).join(' | ');
    return await waitFor(`${peer.name}'s composite to show ${what}`, async () => {
      const r = await sees(peer, want, solo);
      last = r.text;
      return r.ok ? r.text : null;
    }, { timeoutMs, intervalMs: 250, describe: () => last });
  } catch (err) {
    throw new Error(`${err.message}\n${await describeAll()}`);
  }
}

/** Waits until a page hears the participants `heard` (indexes) and not `absent`. */
async function waitHears(peer, heard, absent, timeoutMs) {
  const freqs = PARTICIPANTS.map((p) => p.hz);
  let last = '';
  try {
    return await waitFor(`${peer.name} to hear ${heard.map((k) => `${PARTICIPANTS[k].name} (${freqs[k]} Hz)`).join(' and ')}`
      + ` but not ${absent.map((k) => `${PARTICIPANTS[k].name} (${freqs[k]} Hz)`).join(' or ')}`, async () => {
      const r = await peer.page.evaluate(pageMeasureTones, { selector: '#composite', freqs, durationMs: 1000 });
      if (r.error) {
        last = r.error;
        return null;
      }
      const v = toneVerdict(r, {
        heard: heard.map((k) => freqs[k]), absent: absent.map((k) => freqs[k]), overFloorDb: TONE_OVER_FLOOR_DB, belowDb: OWN_TONE_BELOW_DB,
      });
      last = v.text;
      return v.ok ? v.text : null;
    }, { timeoutMs, intervalMs: 100, describe: () => last });
  } catch (err) {
    throw new Error(`${err.message}\n${await describeAll()}`);
  }
}

/** Waits until a page's roster lists exactly the participants `names`, itself marked .self. */
function waitRoster(peer, names, timeoutMs) {
  return wait(`${peer.name}'s roster to list exactly ${names.join(', ')}`, () => peer.page.evaluate(([want, self]) => {
    const items = [...document.querySelectorAll('#roster li.participant')];
    const got = items.map((li) => li.querySelector('.name')?.textContent || '');
    const mine = items.filter((li) => li.classList.contains('self'));
    return got.length === want.length && want.every((n) => got.some((x) => x.startsWith(n)))
      && mine.length === 1 && (mine[0].textContent || '').includes(self);
  }, [names, peer.name]), timeoutMs);
}

/**
 * From a page of node's own origin, opens a WebSocket to node and sends a join of room r, without media:
 * resolves with the server's first answer (a "moved" error when node does not serve r).
 */
function probeJoin(peer, node, r) {
  return peer.page.evaluate(([url, roomName]) => new Promise((resolveP) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      resolveP({ type: 'timeout' });
    }, 5000);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room: roomName, name: 'probe' }));
    ws.onmessage = (ev) => {
      clearTimeout(timer);
      ws.close();
      resolveP(JSON.parse(ev.data));
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      resolveP({ type: 'closed', code: ev.code });
    };
  }), [`ws://${node.addr}/ws`, r]);
}

test('three nodes over Redis: one room across them, failover after kill -9 of its owner, drain', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const start = Date.now();
  const deadline = start + TEST_TIMEOUT_MS;
  const left = (want) => h.budget(deadline, want);

  // 1. Fixtures, Redis, three nodes.
  const dir = await h.setUp();
  const files = await Promise.all(PARTICIPANTS.map((p) => writeFixtures(dir, p)));
  redisSock = await h.startRedis(deadline);
  const ports = [];
  while (ports.length < 3) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const nodes = await Promise.all(ports.map((port, i) => h.startNode(`node${i + 1}`, port, deadline,
    ['-node-id', `node${i + 1}`, '-public-url', `http://127.0.0.1:${port}`, '-drain-timeout', '30s'],
    { MCU_REDIS: `unix://${redisSock}`, MCU_ADMIN_TOKEN: ADMIN_TOKEN })));
  const byId = Object.fromEntries(nodes.map((n) => [n.name, n]));
  await wait('GET /api/v1/nodes on node1 to list node1, node2, node3, serving, at their addresses', async () => {
    const got = await nodesOf(nodes[0]);
    return got.length === 3 && got.every((n, i) => n.id === nodes[i].name && n.url === nodes[i].url && n.state === 'serving') ? got : null;
  }, left(10000));

  const peers = await Promise.all(PARTICIPANTS.map((p, i) => h.launch(p.name, files[i], deadline)));
  peers.forEach(trackSockets);
  t.diagnostic(`Chromium ${peers[0].browser.version()}, server ${MCU_BIN}, nodes ${nodes.map((n) => `${n.name}=${n.addr}`).join(' ')}`);

  // 2. P1, P2, P3 join R through node1, node2, node3, one after the other (the grid's order is known).
  room = `e2e-cluster-${process.pid}-${Date.now().toString(36)}`;
  for (const [i, peer] of peers.entries()) {
    await peer.page.goto(`${nodes[i].url}/room/${room}?name=${peer.name}&autojoin=1&rawaudio=1`, { timeout: left(15000) });
    await wait(`${peer.name} (page from ${nodes[i].name}) to join (body[data-state=joined])`, () => stateOf(peer).then((s) => {
      if (s === 'error' || s === 'left') throw new Fatal(`page state is ${s}`);
      const csp = peer.console.find((m) => m.includes('Content Security Policy'));
      if (csp) throw new Fatal(`the page's Content-Security-Policy blocked it (the owner's WebSocket is another origin): ${csp}`);
      return s === 'joined';
    }), left(20000));
  }
  const joinedAt = Date.now();

  // Who owns R: Redis's lease, each node's metrics and rooms.
  const l1 = await lease();
  assert.equal(l1?.node, 'node1', `the lease of ${room} should name node1 (P1 joined first, through node1, which had capacity): ${JSON.stringify(l1)}\n${await describeAll()}`);
  assert.equal(l1.url, nodes[0].url, `the lease names node1 at ${l1.url}, not its public URL ${nodes[0].url}`);
  await wait(`node1 alone to own ${room} with P1, P2, P3 (metrics mcu_room_owner, /api/v1/rooms of each node)`, async () => {
    const [owners, rooms] = await Promise.all([Promise.all(nodes.map(ownerMetric)), Promise.all(nodes.map(roomsOf))]);
    const v = { owners, rooms };
    if (owners[0].join() === 'node1' && !owners[1].length && !owners[2].length
      && rooms[0].join() === `${room}: P1,P2,P3` && !rooms[1].length && !rooms[2].length) return v;
    throw new Error(JSON.stringify(v));
  }, left(10000));
  // Each page asked its own node first and then, moved, the owner: on the first try (a retry here means
  // the owner refused a page of another node, e.g. as an unknown origin: "websocket upgrade refused").
  const refused = nodes[0].log.join('').split('\n').filter((line) => line.includes('websocket upgrade refused'));
  for (const [i, peer] of peers.entries()) {
    const want = [...new Set([nodes[i], nodes[0]])].map((n) => `ws://${n.addr}/ws`);
    assert.deepEqual(peer.sockets.map((s) => s.url), want, `${peer.name} (page from ${nodes[i].name}) should open a WebSocket to its own node and, `
      + `moved, one to the owner node1, and no more${refused.length ? `; node1 refused:\n${refused.join('\n')}` : ''}\n${await describePage(peer)}`);
    assert.ok(openSocket(peer) === peer.sockets[want.length - 1], `${peer.name} should hold its WebSocket on the owner node1\n${await describePage(peer)}`);
  }
  t.diagnostic(`owner node1; sockets: ${peers.map((p) => `${p.name} ${p.sockets.map((s) => s.url.replace('ws://', '')).join(' -> ')}`).join('; ')}`);

  // The registry's loads follow at the next heartbeats.
  await wait('GET /api/v1/nodes on node3 to show node1 with 1 room and 3 participants, the others with none', async () => {
    const got = await nodesOf(nodes[2]);
    if (got.map((n) => `${n.id}:${n.rooms}/${n.participants}`).join(' ') === 'node1:1/3 node2:0/0 node3:0/0') return got;
    throw new Error(JSON.stringify(got));
  }, left(10000));

  // Media by content: each sees the other two, earlier joiner on the left, and hears them but not itself.
  await Promise.all(peers.map((peer) => waitRoster(peer, PARTICIPANTS.map((p) => p.name), left(15000))));
  const seen = await Promise.all(peers.map((peer, me) => waitSees(peer, [0, 1, 2].filter((k) => k !== me), left(30000))));
  seen.forEach((s, me) => t.diagnostic(`${PARTICIPANTS[me].name} sees ${s}`));
  const heard = await Promise.all(peers.map((peer, me) => waitHears(peer, [0, 1, 2].filter((k) => k !== me), [me], left(25000))));
  heard.forEach((s, me) => t.diagnostic(`${PARTICIPANTS[me].name} hears ${s}`));
  t.diagnostic(`room formed across three nodes: ${((Date.now() - start) / 1000).toFixed(1)} s into the test`);

  // The sessions last STABLE_MS (10 s, app.js) before the kill, as they would in a real call: a page then
  // retries with its shortest delays (the retry count resets), whatever the machine's speed so far.
  await sleep(Math.max(0, joinedAt + 10500 - Date.now()));

  // 3. kill -9 of the owner.
  const [p1, p2, p3] = peers;
  const survivors = [p2, p3];
  const sockBefore = survivors.map(openSocket);
  const killedAt = Date.now();
  nodes[0].child.kill('SIGKILL');
  await nodes[0].exited;
  // 4 starts now: the survivors' registries must forget node1 once its record expires (NodeTTL).
  const goneAfter = {};
  const forgotten = Promise.all([nodes[1], nodes[2]].map((n) => wait(`GET /api/v1/nodes on ${n.name} to list exactly node2 and node3, serving`, async () => {
    const got = await nodesOf(n);
    if (got.map((x) => `${x.id}:${x.state}`).join(' ') !== 'node2:serving node3:serving') throw new Error(JSON.stringify(got));
    goneAfter[n.name] = Date.now() - killedAt;
    return got;
  }, FAILOVER_DEADLINE_MS, 250)));
  forgotten.catch(() => {}); // awaited in 4
  const seenAt = {};
  const rejoinedAt = {};
  await Promise.all(survivors.map((peer) => {
    const other = peer === p2 ? 2 : 1;
    let last = '';
    return waitFor(`${peer.name} to rejoin and see ${PARTICIPANTS[other].name} alone again after the kill of node1`, async () => {
      if (!rejoinedAt[peer.name]) {
        const ws = openSocket(peer);
        if (ws && !sockBefore.includes(ws) && await stateOf(peer) === 'joined') rejoinedAt[peer.name] = Date.now();
        last = 'not rejoined yet';
        if (!rejoinedAt[peer.name]) return false; // the old composite's last frame does not count
      }
      const r = await sees(peer, [other], true);
      last = r.text;
      if (r.ok) seenAt[peer.name] = Date.now();
      return r.ok;
    }, { timeoutMs: FAILOVER_DEADLINE_MS, intervalMs: 250, describe: async () => `${last}\n${await describeAll()}` });
  }));
  const failover = Math.max(...survivors.map((p) => seenAt[p.name])) - killedAt;
  t.diagnostic(`failover: both survivors see each other ${(failover / 1000).toFixed(1)} s after kill -9 of node1 `
    + `(rejoined after ${survivors.map((p) => `${p.name} ${rejoinedAt[p.name] ? ((rejoinedAt[p.name] - killedAt) / 1000).toFixed(1) : '?'} s`).join(', ')})`);

  // Where R lives now.
  const l2 = await lease();
  assert.ok(l2 && (l2.node === 'node2' || l2.node === 'node3'), `after the kill the lease of ${room} should name node2 or node3: ${JSON.stringify(l2)}\n${await describeAll()}`);
  assert.ok(BigInt(l2.token) > BigInt(l1.token), `the new lease's fence token ${l2.token} should exceed the old one ${l1.token}`);
  const owner = byId[l2.node];
  const other = owner === nodes[1] ? nodes[2] : nodes[1];
  assert.equal(l2.url, owner.url, `the lease names ${owner.name} at ${l2.url}, not its public URL ${owner.url}`);
  await wait(`${owner.name} alone to own ${room} with P2 and P3`, async () => {
    const v = { owners: [await ownerMetric(owner), await ownerMetric(other)], rooms: [await roomsOf(owner), await roomsOf(other)] };
    if (v.owners[0].join() === owner.name && !v.owners[1].length && v.rooms[0].join() === `${room}: P2,P3` && !v.rooms[1].length) return v;
    throw new Error(JSON.stringify(v));
  }, left(10000));
  for (const peer of survivors) {
    assert.equal(openSocket(peer)?.url, `ws://${owner.addr}/ws`, `${peer.name} should hold its WebSocket on the new owner ${owner.name}\n${await describePage(peer)}`);
  }
  const takeover = owner.log.join('').split('\n').find((line) => line.includes('room of a dead node taken over'));
  t.diagnostic(`new owner ${owner.name} (token ${l1.token} -> ${l2.token}); ${takeover ? `its log: ${takeover.replace(/^time=\S+ /, '')}` : 'the old lease had expired (no dead-node takeover logged)'}`);
  await Promise.all(survivors.map((peer) => waitRoster(peer, ['P2', 'P3'], left(15000))));
  const heard2 = await Promise.all(survivors.map((peer) => {
    const me = peer === p2 ? 1 : 2;
    return waitHears(peer, [3 - me], [me, 0], left(25000));
  }));
  heard2.forEach((s, i) => t.diagnostic(`after failover ${survivors[i].name} hears ${s}`));

  // P1's page has lost its server: it says so and keeps trying (or has given up), and is never joined.
  const p1Says = await p1.page.evaluate(() => ({
    state: document.body.dataset.state,
    banner: document.getElementById('banner')?.hidden ? '' : document.getElementById('banner-text')?.textContent?.trim() || '',
    status: document.getElementById('status')?.textContent?.trim() || '',
    left: document.getElementById('left-screen')?.hidden ? '' : document.getElementById('left-title')?.textContent?.trim() || '',
  }));
  assert.ok((p1Says.state === 'joining' && /Disconnected/.test(`${p1Says.banner} ${p1Says.status}`)) || (p1Says.state === 'error' && /Disconnected/.test(p1Says.left)),
    `P1's page (from the killed node1) should show it is disconnected and retrying: ${JSON.stringify(p1Says)}`);
  t.diagnostic(`P1's page: ${JSON.stringify(p1Says)}`);

  // 4. The registry forgot node1 (polled since the kill).
  await forgotten;
  t.diagnostic(`node1 gone from /api/v1/nodes ${Object.entries(goneAfter).map(([n, ms]) => `on ${n} ${(ms / 1000).toFixed(1)} s`).join(', ')} after the kill`);

  // 5. Drain: SIGTERM of R's owner. It says "draining", sends new rooms elsewhere and keeps serving R.
  const sockDrain = survivors.map(openSocket);
  const termAt = Date.now();
  owner.child.kill('SIGTERM');
  await wait(`GET /api/v1/nodes on ${other.name} to show ${owner.name} draining`, async () => {
    const got = await nodesOf(other);
    if (got.find((n) => n.id === owner.name)?.state === 'draining') return got;
    throw new Error(JSON.stringify(got));
  }, left(10000));
  const selfView = await nodesOf(owner);
  assert.equal(selfView.find((n) => n.id === owner.name)?.state, 'draining', `${owner.name}'s own /api/v1/nodes: ${JSON.stringify(selfView)}`);
  await p1.page.goto(`${owner.url}/`, { timeout: left(10000) }); // a page of the draining node's origin (P1's page stops retrying)
  const probe = await probeJoin(p1, owner, `${room}-new`);
  assert.deepEqual({ type: probe.type, code: probe.code, url: probe.url }, { type: 'error', code: 'moved', url: `ws://${other.addr}/ws` },
    `a join of a new room through the draining ${owner.name} should be moved to ${other.name}: ${JSON.stringify(probe)}\n${h.nodeTail(owner, 10)}`);
  await sleep(Math.max(0, termAt + DRAIN_HOLD_MS - Date.now()));
  assert.equal(owner.exit, null, `${owner.name} exited while draining a room: ${h.nodeTail(owner, 15)}`);
  for (const [i, peer] of survivors.entries()) {
    const r = await waitSees(peer, [peer === p2 ? 2 : 1], left(10000), true);
    assert.equal(openSocket(peer), sockDrain[i], `${peer.name} should still be on its WebSocket to the draining ${owner.name}\n${await describePage(peer)}`);
    assert.equal(await stateOf(peer), 'joined', `${peer.name} left the room while ${owner.name} drained\n${await describePage(peer)}`);
    t.diagnostic(`${((Date.now() - termAt) / 1000).toFixed(1)} s into the drain ${peer.name} still sees ${r}`);
  }
  assert.deepEqual(await roomsOf(owner), [`${room}: P2,P3`], `the draining ${owner.name} should still serve ${room}`);
  owner.child.kill('SIGKILL'); // not waiting for -drain-timeout
  await owner.exited;

  t.diagnostic(`test body took ${((Date.now() - start) / 1000).toFixed(1)} s`);
  h.passed = true;
});
