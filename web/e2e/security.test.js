// Browser end-to-end test of room access tokens and the pages' Content-Security-Policy: the real mcu
// binary started with -api-keys (MCU_API_KEYS) and one headless Chromium.
//
//   make build && cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test security.test.js
//
// 1. The pages carry the CSP (frame-ancestors 'none') and no-referrer.
// 2. /room/ROOM?access_token=EXPIRED stops in state "error" saying the link has expired (no retries), and so
//    does /watch/ROOM?access_token=EXPIRED; a token for another room is refused as not letting one in.
// 3. /room/ROOM?access_token=VALID joins under the token's name, connects its media and plays the composite;
//    the console shows no CSP violation on the way (nor on the /watch page).
// Tokens are signed here with node:crypto (HS256), independently of the server's code.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Harness } from './harness.js';
import { Fatal, PARTICIPANTS, pageVideoState, writeFixtures } from './helpers.js';

const TEST_TIMEOUT_MS = 90000;
const KEY = 'e2ekey';
const SECRET = 'e2e-secret-of-at-least-32-bytes-long!!';

const h = new Harness('security');
after(() => h.tearDown());

/** A LiveKit-shaped HS256 token for grant, valid from nbf to exp (unix seconds). */
function sign(identity, name, grant, nbf, exp) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: KEY, sub: identity, name, nbf, exp, video: grant })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

test('tokens gate the pages, an expired link says so, and the CSP holds', { timeout: TEST_TIMEOUT_MS }, async () => {
  const deadline = Date.now() + TEST_TIMEOUT_MS;
  const dir = await h.setUp();
  const files = await writeFixtures(dir, PARTICIPANTS[0]);
  const addr = await h.startServer(deadline, [], { MCU_API_KEYS: `${KEY}:${SECRET}` });
  const room = `sec-${process.pid}`;
  const now = Math.floor(Date.now() / 1000);
  const join = { room, roomJoin: true };
  const expired = sign('late', 'Late', join, now - 7200, now - 3600);
  const valid = sign('ann', 'Ann Token', join, now - 60, now + 3600);
  const otherRoom = sign('ann', 'Ann', { room: 'elsewhere', roomJoin: true }, now - 60, now + 3600);

  // 1. Headers.
  const res = await fetch(`http://${addr}/room/${room}`);
  const csp = res.headers.get('content-security-policy') || '';
  assert.match(csp, /frame-ancestors 'none'/, `CSP: ${csp}`);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');

  const peer = await h.launch('P', files, deadline);
  const { page } = peer;
  const stateOf = () => page.evaluate(() => ({
    state: document.body.dataset.state,
    title: document.getElementById('left-title')?.textContent || '',
    text: document.getElementById('left-text')?.textContent || '',
    watch: document.getElementById('state')?.textContent || document.getElementById('status')?.textContent || '',
  }));
  const describe = async () => `${JSON.stringify(await stateOf().catch((e) => e.message))}\n${peer.console.slice(-8).join('\n')}\n${h.serverTail(15)}`;

  // 2. Refusals.
  for (const [tok, want] of [[expired, /expired/i], [otherRoom, /does not let you in|another room/i]]) {
    await page.goto(`http://${addr}/room/${room}?name=X&autojoin=1&access_token=${tok}`, { timeout: h.budget(deadline, 15000) });
    const s = await h.wait(`the room page to refuse (${want})`, async () => {
      const st = await stateOf();
      return st.state === 'error' ? st : null;
    }, { timeoutMs: h.budget(deadline, 15000), describe });
    assert.match(`${s.title} ${s.text}`, want, JSON.stringify(s));
  }
  await page.goto(`http://${addr}/watch/${room}?access_token=${expired}`, { timeout: h.budget(deadline, 15000) });
  const w = await h.wait('the watch page to say the link has expired', async () => {
    const text = await page.evaluate(() => document.body.innerText);
    return /expired/i.test(text) ? text : null;
  }, { timeoutMs: h.budget(deadline, 15000), describe });
  assert.doesNotMatch(w, /playing/i);

  // 3. A valid token: in, under the token's name, media connected, no CSP violation.
  peer.console.length = 0;
  await page.goto(`http://${addr}/room/${room}?name=Ignored&autojoin=1&rawaudio=1&access_token=${valid}`, { timeout: h.budget(deadline, 15000) });
  await h.wait('the room page to join with the token', () => page.evaluate(() => document.body.dataset.state).then((s) => {
    if (s === 'error' || s === 'left') throw new Fatal(`page state is ${s}`);
    return s === 'joined';
  }), { timeoutMs: h.budget(deadline, 20000), describe });
  await h.wait('the media to connect', () => page.evaluate(() => /** @type {any} */ (window).mcuPeer?.connectionState === 'connected'),
    { timeoutMs: h.budget(deadline, 20000), describe });
  await h.wait('the composite to play', async () => {
    const v = await page.evaluate(pageVideoState, '#composite');
    return v.width > 0 && v.time > 0.3;
  }, { timeoutMs: h.budget(deadline, 20000), describe });
  const names = await page.evaluate(() => [...document.querySelectorAll('#roster li .name')].map((e) => e.textContent));
  assert.ok(names.some((n) => n?.startsWith('Ann Token')), `roster ${JSON.stringify(names)}: want the token's name`);
  // The viewer page too (its styles once were inline, which the CSP blocks).
  await page.goto(`http://${addr}/watch/${room}?access_token=${valid}`, { timeout: h.budget(deadline, 15000) });
  await h.wait('the watch page to start or refuse', () => page.evaluate(() => document.body.dataset.state !== 'connecting'),
    { timeoutMs: h.budget(deadline, 20000), describe });
  const violations = peer.console.filter((l) => /Content Security Policy|Refused to/i.test(l));
  assert.deepEqual(violations, [], 'CSP violations in the console');
  h.passed = true;
});
