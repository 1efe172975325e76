// The scaffolding the end-to-end tests share: the real server binary, headless Chromium processes, other
// child processes (ffmpeg), bounded waits that give up when the server dies, and the failure artifacts
// (server log, page consoles, screenshots) kept in a temp dir. One Harness per test file.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, Fatal, chromiumArgs, freePort, waitFor } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The server binary: $MCU_BIN (relative to the current directory) or the repository's bin/mcu. */
export const MCU_BIN = process.env.MCU_BIN ? resolve(process.env.MCU_BIN) : resolve(here, '../../bin/mcu');

/**
 * @typedef {object} Peer one Chromium process with one page
 * @property {string} name
 * @property {import('playwright-core').Browser} browser
 * @property {import('playwright-core').Page} page
 * @property {string[]} console the page's console messages and errors
 */

/**
 * @typedef {object} Node one server of several (Harness.startNode)
 * @property {string} name
 * @property {string} addr 127.0.0.1:PORT
 * @property {string} url http://127.0.0.1:PORT
 * @property {import('node:child_process').ChildProcess} child
 * @property {string[]} log its stdout and stderr
 * @property {string|null} exit how it exited ("signal SIGKILL", "code 0"), null while it runs
 * @property {Promise<string>} [exited] resolves with exit when it has exited
 */

export class Harness {
  /** @param {string} name names the temp dirs (mcu-e2e-NAME-…) */
  constructor(name) {
    this.name = name;
    this.passed = false;
    /** @type {string|null} */ this.dir = null;
    /** @type {import('node:child_process').ChildProcess|null} */ this.server = null;
    /** @type {string|null} */ this.serverExit = null;
    /** @type {string[]} */ this.serverLog = [];
    /** @type {{name: string, child: import('node:child_process').ChildProcess, log: string[]}[]} */ this.children = [];
    /** @type {Peer[]} */ this.peers = [];
    /** @type {Node[]} */ this.nodes = [];
    process.on('exit', () => {
      if (this.server && this.serverExit === null) this.server.kill('SIGKILL');
      for (const c of this.children) c.child.kill('SIGKILL');
      for (const n of this.nodes) if (n.exit === null) n.child.kill('SIGKILL');
    });
  }

  /** Checks the server binary and Chromium are there and makes the temp dir for fixtures. */
  async setUp() {
    if (!existsSync(MCU_BIN)) throw new Error(`no server binary at ${MCU_BIN}: run \`make build\` first, or set MCU_BIN`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
    this.dir = await mkdtemp(join(tmpdir(), `mcu-e2e-${this.name}-`));
    return this.dir;
  }

  /**
   * The last lines of the server's output, and how it exited. Pion's congestion-control debug lines
   * (pion=gcc_*, several per packet) are left out: they would push everything else out of the tail.
   */
  serverTail(lines = 30) {
    const all = this.serverLog.join('').trimEnd().split('\n').filter((l) => !l.includes(' pion=gcc_'));
    const exit = this.serverExit !== null ? `\n(server exited: ${this.serverExit})` : '';
    return `server log but pion=gcc_* (last ${Math.min(lines, all.length)} lines):\n${all.slice(-lines).join('\n')}${exit}`;
  }

  /** The time left before deadline, capped at want and kept 3 s short of it for a clear message. */
  budget(deadline, want) {
    return Math.max(1000, Math.min(want, deadline - Date.now() - 3000));
  }

  /** waitFor that also gives up at once when the server has exited. */
  wait(what, fn, opts) {
    return waitFor(what, async () => {
      if (this.serverExit !== null) throw new Fatal(`the server exited (${this.serverExit})`);
      return fn();
    }, opts);
  }

  /**
   * Starts the server on 127.0.0.1 at a free port with args and env (on top of loopback ICE candidates and
   * debug logs) and resolves with host:port once /healthz answers.
   * @param {number} deadline @param {string[]} [args] @param {Record<string, string>} [env]
   */
  async startServer(deadline, args = [], env = {}) {
    const addr = `127.0.0.1:${await freePort()}`;
    // SIP, the embedded TURN server and ICE-TCP off unless a test asks for them (their default ports may be
    // taken on the machine, or by another test's server).
    const allEnv = { MCU_INCLUDE_LOOPBACK: '1', MCU_LOG_LEVEL: 'debug', MCU_SIP_PORT: '0', MCU_TURN_PORT: '0', MCU_ICE_TCP_PORT: '0', ...env };
    const child = spawn(MCU_BIN, ['-http', addr, ...args], { env: { ...process.env, ...allEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = child;
    child.stdout.setEncoding('utf8').on('data', (s) => this.serverLog.push(s));
    child.stderr.setEncoding('utf8').on('data', (s) => this.serverLog.push(s));
    child.on('error', (err) => this.serverLog.push(`spawn error: ${err.message}\n`));
    child.on('exit', (code, sig) => {
      this.serverExit = sig ? `signal ${sig}` : `code ${code}`;
    });
    this.serverLog.push(`$ ${MCU_BIN} -http ${addr} ${args.join(' ')}\n`);
    await this.wait('the server to answer /healthz', async () => {
      const r = await fetch(`http://${addr}/healthz`, { signal: AbortSignal.timeout(1000) });
      return r.ok;
    }, { timeoutMs: this.budget(deadline, 15000), intervalMs: 100, describe: () => this.serverTail() });
    return addr;
  }

  /**
   * Starts one server of several (a node of a cluster) on 127.0.0.1:port with args and env (on top of
   * startServer's: loopback candidates, debug logs, SIP, TURN and ICE-TCP off), and resolves with it once
   * /healthz answers. Unlike startServer, any number may run: each keeps its own log (NAME.log with the
   * failure artifacts) and exit status, and tearDown stops them all. The caller picks the port (freePort),
   * so that it can name it in args (e.g. -public-url) first.
   * @param {string} name @param {number} port @param {number} deadline @param {string[]} [args] @param {Record<string, string>} [env]
   * @returns {Promise<Node>}
   */
  async startNode(name, port, deadline, args = [], env = {}) {
    const addr = `127.0.0.1:${port}`;
    const allEnv = { MCU_INCLUDE_LOOPBACK: '1', MCU_LOG_LEVEL: 'debug', MCU_SIP_PORT: '0', MCU_TURN_PORT: '0', MCU_ICE_TCP_PORT: '0', ...env };
    const child = spawn(MCU_BIN, ['-http', addr, ...args], { env: { ...process.env, ...allEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Node} */
    const node = { name, addr, url: `http://${addr}`, child, log: [`$ ${MCU_BIN} -http ${addr} ${args.join(' ')}\n`], exit: null };
    this.nodes.push(node);
    child.stdout.setEncoding('utf8').on('data', (s) => node.log.push(s));
    child.stderr.setEncoding('utf8').on('data', (s) => node.log.push(s));
    child.on('error', (err) => node.log.push(`spawn error: ${err.message}\n`));
    node.exited = new Promise((r) => child.once('exit', (code, sig) => {
      node.exit = sig ? `signal ${sig}` : `code ${code}`;
      r(node.exit);
    }));
    await waitFor(`${name} to answer /healthz at ${addr}`, async () => {
      if (node.exit !== null) throw new Fatal(`${name} exited (${node.exit})`);
      const r = await fetch(`http://${addr}/healthz`, { signal: AbortSignal.timeout(1000) });
      return r.ok;
    }, { timeoutMs: this.budget(deadline, 15000), intervalMs: 100, describe: () => this.nodeTail(node) });
    return node;
  }

  /** The last lines of a node's output, and how it exited. @param {Node} node */
  nodeTail(node, lines = 30) {
    const all = node.log.join('').trimEnd().split('\n');
    const exit = node.exit !== null ? `\n(${node.name} exited: ${node.exit})` : '';
    return `${node.name} log (last ${Math.min(lines, all.length)} lines):\n${all.slice(-lines).join('\n')}${exit}`;
  }

  /**
   * Starts Debian's redis-server ($REDIS_SERVER to override) on a unix socket in the temp dir, without
   * persistence, stopped by tearDown; resolves with its socket's path once it answers PING.
   * @param {number} deadline
   */
  async startRedis(deadline) {
    if (!this.dir) throw new Error('startRedis before setUp');
    const bin = process.env.REDIS_SERVER || '/usr/bin/redis-server';
    if (!existsSync(bin)) throw new Error(`no redis-server at ${bin} (apt-get install redis-server, or set REDIS_SERVER)`);
    const sock = join(this.dir, 'redis.sock');
    const child = this.spawnChild('redis', bin, ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
      '--save', '', '--appendonly', 'no', '--dir', this.dir]);
    const log = this.children[this.children.length - 1].log;
    await waitFor('redis-server to answer PING', async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Fatal(`redis-server exited: ${log.join('').slice(-500)}`);
      return (await this.redis(sock, 'PING').catch(() => '')) === 'PONG';
    }, { timeoutMs: this.budget(deadline, 10000), intervalMs: 100, describe: () => log.join('').slice(-1000) });
    return sock;
  }

  /**
   * One Redis command through redis-cli on the unix socket sock: its reply as text (--raw), trimmed.
   * @param {string} sock @param {...string} args
   * @returns {Promise<string>}
   */
  redis(sock, ...args) {
    return new Promise((resolveP, reject) => {
      execFile(process.env.REDIS_CLI || 'redis-cli', ['-s', sock, '--raw', ...args], { timeout: 5000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`));
        else resolveP(stdout.trim());
      });
    });
  }

  /** Starts another process whose output is kept with the failure artifacts. */
  spawnChild(name, cmd, args) {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = [];
    child.stdout.setEncoding('utf8').on('data', (s) => log.push(s));
    child.stderr.setEncoding('utf8').on('data', (s) => log.push(s));
    child.on('error', (err) => log.push(`spawn error: ${err.message}\n`));
    this.children.push({ name, child, log });
    return child;
  }

  /**
   * Launches a Chromium whose fake camera and microphone read files, with one 1280x800 page; extraArgs
   * go on its command line too (e.g. --ignore-certificate-errors).
   * @param {string} name @param {{y4m: string, wav: string}} files @param {number} deadline @param {string[]} [extraArgs]
   * @returns {Promise<Peer>}
   */
  async launch(name, files, deadline, extraArgs = []) {
    const args = [...chromiumArgs(files), ...extraArgs];
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: this.budget(deadline, 30000) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const peer = { name, browser, page, console: /** @type {string[]} */ ([]) };
    this.peers.push(peer);
    page.on('console', (m) => peer.console.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => peer.console.push(`[pageerror] ${e.message}`));
    return peer;
  }

  /** Stops everything; after a failure first keeps the artifacts and prints where. For node:test's after. */
  async tearDown() {
    if (!this.passed && (this.server || this.nodes.length || this.peers.length)) {
      try {
        const dir = await mkdtemp(join(tmpdir(), `mcu-e2e-${this.name}-failure-`));
        if (this.server || !this.nodes.length) await writeFile(join(dir, 'server.log'), this.serverLog.join(''));
        for (const n of this.nodes) await writeFile(join(dir, `${n.name}.log`), n.log.join(''));
        for (const c of this.children) await writeFile(join(dir, `${c.name}.log`), c.log.join(''));
        for (const peer of this.peers) {
          await writeFile(join(dir, `${peer.name}.console.log`), `${peer.console.join('\n')}\n`);
          await peer.page.screenshot({ path: join(dir, `${peer.name}.png`), timeout: 5000 }).catch(() => {});
        }
        console.error(`e2e failure artifacts in ${dir}`);
      } catch (err) {
        console.error(`could not save failure artifacts: ${err.message}`);
      }
    }
    await Promise.allSettled(this.peers.map((p) => p.browser.close()));
    // Nodes before the other children: a cluster's redis-server outlives its nodes, which release their leases.
    await Promise.allSettled(this.nodes.map((n) => stop(n.child)));
    await Promise.allSettled(this.children.map((c) => stop(c.child)));
    if (this.server && this.serverExit === null) await stop(this.server);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Stops a child: SIGTERM, then SIGKILL after 5 s. */
async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
