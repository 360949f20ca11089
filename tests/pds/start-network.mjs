#!/usr/bin/env node
// Start a local Bluesky network (PLC + PDS + Bluesky AppView) on loopback for cmops tests.
//
// Usage:
//   DB_POSTGRES_URL=postgresql://... node start-network.mjs [--plc-port N] [--pds-port N]
//       [--appview-port N] [--schema NAME] [--with-ozone] [--ozone-port N]
//       [--max-seconds N] [--ignore-stdin]
//
// Every option can also be given by env var (CLI wins):
//   PLC_PORT, PDS_PORT, APPVIEW_PORT, OZONE_PORT   loopback ports (picked free if unset)
//   DB_POSTGRES_URL     required, e.g. postgresql://cmops@127.0.0.1:55432/postgres
//   DB_POSTGRES_SCHEMA  [A-Za-z_]+, default "cmops"; the AppView uses "appview_<schema>"
//                       (and Ozone "ozone_<schema>"); both are DROPPED at start and at stop
//   PDS_WITH_OZONE=1    use @atproto/dev-env's full TestNetwork.create (adds Ozone)
//   PDS_MAX_SECONDS     hard lifetime cap (default 7200); the network shuts down after it
//   PDS_IGNORE_STDIN=1  do not stop when stdin closes (for manual runs in the background)
//
// Contract for callers (e.g. a pytest fixture):
//   * stdout carries exactly ONE line, the ready line, e.g.
//     {"pds":"http://localhost:2583","plc":"http://localhost:2582","appview":"http://localhost:2584",...}
//     Everything else (logs, errors) goes to stderr. If the process exits before printing it,
//     startup failed and stderr says why (exit code 1).
//   * It stops (closes the network, drops its schemas, deletes its temp dirs, exits 0) on
//     SIGTERM, SIGINT, stdin EOF (so a dead parent never leaves it running), or after
//     --max-seconds. A second signal exits at once (exit 1) without cleaning up.
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const LOOPBACK = '127.0.0.1'
const STARTUP_TIMEOUT_MS = 180_000
const SHUTDOWN_TIMEOUT_MS = 30_000

// ---------------------------------------------------------------- output channels
// stdout is reserved for the ready line; route console.log/info to stderr.
const writeErr = (msg) => process.stderr.write(`[start-network] ${msg}\n`)
console.log = (...a) => process.stderr.write(a.map(String).join(' ') + '\n')
console.info = console.log
console.debug = console.log
// @atproto loggers (pino) are silent unless LOG_ENABLED=true; if enabled, keep them off stdout.
if (process.env.LOG_ENABLED && !process.env.LOG_DESTINATION) {
  process.env.LOG_DESTINATION = '/dev/stderr'
}

// ---------------------------------------------------------------- options
function parseArgs(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (!m) throw new Error(`unexpected argument: ${a}`)
    const [, key, inline] = m
    if (key === 'with-ozone' || key === 'ignore-stdin') {
      out[key] = true
      continue
    }
    if (key === 'help') {
      out.help = true
      continue
    }
    const val = inline ?? argv[++i]
    if (val === undefined) throw new Error(`missing value for --${key}`)
    out[key] = val
  }
  return out
}

function portOpt(args, key, envName) {
  const raw = args[key] ?? process.env[envName]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`--${key} / ${envName} must be a port 1..65535, got ${JSON.stringify(raw)}`)
  }
  return n
}

function truthy(v) {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}

// ---------------------------------------------------------------- loopback only
// @atproto servers call app.listen(port) with no host, i.e. on every interface.
// Force every TCP listener in this process onto 127.0.0.1.
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const a0 = args[0]
  if (a0 !== null && typeof a0 === 'object' && !Array.isArray(a0)) {
    if (a0.path === undefined && a0.handle === undefined && a0._handle === undefined && a0.fd === undefined) {
      args[0] = { ...a0, host: LOOPBACK, ipv6Only: false }
    }
  } else if (typeof a0 === 'number' || (typeof a0 === 'string' && /^\d+$/.test(a0))) {
    if (typeof args[1] === 'string') args[1] = LOOPBACK
    else args.splice(1, 0, LOOPBACK)
  } else if (a0 === undefined || a0 === null || typeof a0 === 'function') {
    args = [0, LOOPBACK, ...args.filter((x) => typeof x === 'function')]
  }
  return origListen.apply(this, args)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, LOOPBACK, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function pickPorts(wanted) {
  const used = new Set(Object.values(wanted).filter(Boolean))
  const out = { ...wanted }
  for (const k of Object.keys(out)) {
    if (out[k]) continue
    for (let tries = 0; tries < 20; tries++) {
      const p = await freePort()
      if (!used.has(p)) {
        used.add(p)
        out[k] = p
        break
      }
    }
    if (!out[k]) throw new Error(`could not find a free port for ${k}`)
  }
  return out
}

function withTimeout(promise, ms, what) {
  let t
  const timer = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s`)), ms)
  })
  return Promise.race([promise, timer]).finally(() => clearTimeout(t))
}

// ---------------------------------------------------------------- postgres schemas
async function dropSchemas(url, schemas) {
  const { Client } = require('pg')
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
  await client.connect()
  try {
    for (const s of schemas) {
      await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    }
  } finally {
    await client.end()
  }
}

// ---------------------------------------------------------------- main
async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    process.stderr.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\nimport ')[0] + '\n')
    return 0
  }
  const dbUrl = args['db-postgres-url'] ?? process.env.DB_POSTGRES_URL
  if (!dbUrl) throw new Error('DB_POSTGRES_URL is required (see start-postgres.sh)')
  const schema = args.schema ?? process.env.DB_POSTGRES_SCHEMA ?? 'cmops'
  if (!/^[A-Za-z_]+$/.test(schema)) {
    throw new Error(`schema name must match [A-Za-z_]+ (got ${JSON.stringify(schema)})`)
  }
  const withOzone = args['with-ozone'] || truthy(process.env.PDS_WITH_OZONE)
  const ignoreStdin = args['ignore-stdin'] || truthy(process.env.PDS_IGNORE_STDIN)
  const maxSeconds = Number(args['max-seconds'] ?? process.env.PDS_MAX_SECONDS ?? 7200)
  if (!(maxSeconds > 0)) throw new Error('--max-seconds must be > 0')

  const wanted = {
    plc: portOpt(args, 'plc-port', 'PLC_PORT'),
    pds: portOpt(args, 'pds-port', 'PDS_PORT'),
    appview: portOpt(args, 'appview-port', 'APPVIEW_PORT'),
  }
  if (withOzone) wanted.ozone = portOpt(args, 'ozone-port', 'OZONE_PORT')
  const ports = await pickPorts(wanted)

  // PDS data + blob dirs go to os.tmpdir(): give this run its own, removed at exit.
  const runTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cmops-pds-'))
  process.env.TMPDIR = runTmp
  // Only asserted by TestNetwork.create, never connected to.
  process.env.REDIS_HOST ??= `${LOOPBACK}:1`

  const schemas = [`appview_${schema}`, ...(withOzone ? [`ozone_${schema}`] : [])]
  let network = null
  let stopping = false
  let lifetimeTimer = null

  const cleanupFiles = () => {
    try {
      fs.rmSync(runTmp, { recursive: true, force: true })
    } catch (err) {
      writeErr(`could not remove ${runTmp}: ${err}`)
    }
  }

  const shutdown = async (reason, code = 0) => {
    if (stopping) return
    stopping = true
    clearTimeout(lifetimeTimer)
    writeErr(`shutting down (${reason})`)
    const hard = setTimeout(() => {
      writeErr(`shutdown took over ${SHUTDOWN_TIMEOUT_MS / 1000}s, exiting anyway`)
      cleanupFiles()
      process.exit(code || 1)
    }, SHUTDOWN_TIMEOUT_MS)
    hard.unref()
    try {
      if (network) await network.close()
    } catch (err) {
      writeErr(`error while closing network: ${err?.stack ?? err}`)
      code = code || 1
    }
    try {
      await dropSchemas(dbUrl, schemas)
    } catch (err) {
      writeErr(`could not drop schemas ${schemas.join(', ')}: ${err}`)
    }
    cleanupFiles()
    writeErr('stopped')
    process.exit(code)
  }

  let signals = 0
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(sig, () => {
      // A second *signal* means "now"; a signal after stdin EOF just joins the shutdown.
      if (++signals > 1) {
        writeErr(`second ${sig}: exiting now`)
        cleanupFiles()
        process.exit(1)
      }
      shutdown(sig)
    })
  }
  if (!ignoreStdin) {
    process.stdin.on('data', () => {}) // drain; content is ignored
    process.stdin.on('end', () => shutdown('stdin closed; set PDS_IGNORE_STDIN=1 to run without a stdin pipe'))
    process.stdin.on('error', () => shutdown('stdin error'))
    process.stdin.resume()
  }
  lifetimeTimer = setTimeout(() => shutdown(`max lifetime ${maxSeconds}s reached`), maxSeconds * 1000)
  lifetimeTimer.unref?.()

  const t0 = Date.now()
  writeErr(`ports ${JSON.stringify(ports)}, schemas ${schemas.join(', ')}, tmp ${runTmp}`)
  // Fresh AppView (and Ozone) state: the PLC is in memory and the PDS dirs are new, so
  // rows left by an earlier run would point at DIDs that no longer exist.
  let dev
  try {
    await withTimeout(dropSchemas(dbUrl, schemas), 30_000, `connecting to PostgreSQL`)
    // Import only now: loggers read LOG_* env at import time.
    dev = require('@atproto/dev-env')
  } catch (err) {
    writeErr(`startup failed: ${err?.stack ?? err}`)
    cleanupFiles()
    return 1
  }

  const start = async () => {
    if (withOzone) {
      return dev.TestNetwork.create({
        dbPostgresUrl: dbUrl,
        dbPostgresSchema: schema,
        plc: { port: ports.plc },
        pds: { port: ports.pds },
        bsky: { port: ports.appview },
        ozone: { port: ports.ozone },
      })
    }
    // Same wiring as TestNetwork.create, minus Ozone and its helper PDS.
    const plc = await dev.TestPlc.create({ port: ports.plc })
    const bsky = await dev.TestBsky.create({
      port: ports.appview,
      plcUrl: plc.url,
      pdsPort: ports.pds,
      repoProvider: `ws://localhost:${ports.pds}`,
      dbPostgresSchema: `appview_${schema}`,
      dbPostgresUrl: dbUrl,
      redisHost: process.env.REDIS_HOST,
      // static key => static AppView DID, as in dev-env
      privateKey: '3f916c70dc69e4c5e83877f013325b11ecac31742e6a42f5c4fb240d0703d9d5=',
    })
    const pds = await dev.TestPds.create({
      port: ports.pds,
      didPlcUrl: plc.url,
      bskyAppViewUrl: bsky.url,
      bskyAppViewDid: bsky.ctx.cfg.serverDid,
    })
    dev.mockNetworkUtilities(pds, bsky)
    return {
      plc,
      pds,
      bsky,
      ozone: null,
      async close() {
        await bsky.close()
        await pds.close()
        await plc.close()
      },
    }
  }

  const created = start()
  // If startup times out we still want to close whatever did come up.
  created.then((n) => {
    network = n
    if (stopping) n.close().catch(() => {})
  }, () => {})
  try {
    network = await withTimeout(created, STARTUP_TIMEOUT_MS, 'network startup')
  } catch (err) {
    if (stopping) return 0
    writeErr(`startup failed: ${err?.stack ?? err}`)
    await shutdown('startup failed', 1)
    return 1
  }
  if (stopping) return 0

  const ready = {
    pds: network.pds.url,
    plc: network.plc.url,
    appview: network.bsky.url,
    appviewDid: network.bsky.ctx.cfg.serverDid,
    ozone: network.ozone ? network.ozone.url : null,
    adminPassword: dev.ADMIN_PASSWORD,
    pid: process.pid,
    startupSeconds: Math.round((Date.now() - t0) / 100) / 10,
  }
  fs.writeSync(1, JSON.stringify(ready) + '\n')
  writeErr(`ready in ${ready.startupSeconds}s`)
  return null // keep running
}

main().then(
  (code) => {
    if (code !== null && code !== undefined) process.exit(code)
  },
  (err) => {
    writeErr(`error: ${err?.message ?? err}`)
    process.exit(1)
  },
)
