#!/usr/bin/env node
'use strict'
// The Node side of the benchmarks (scripts/bench_node.py), speaking the events of
// `eventcast bench` so that Node and Rust senders and receivers mix:
//   name "bench", arguments [seq (int64), wall-clock send time in ns (int64), padding
//   (binary)], padded so that the encoded event is --size bytes.
//
//   node bench.js recv --events N [--port P] [--group G] [--interface I] [--idle-timeout S] [--rate R]
//   node bench.js send --events N [--size B] [--rate R] [same network options]
//
// recv prints one JSON line as `eventcast bench --role recv` does (events_per_sec, lost,
// latency quantiles), plus its CPU time; send prints nothing but errors.
const { once } = require('node:events')
const Eventcast = require('..')

const EVENT_OVERHEAD = 42
const args = parse(process.argv.slice(2))
const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))

function parse(argv) {
  const o = { role: argv[0], events: 200000, size: 100, rate: 0, port: 9300, group: '239.255.0.100', interface: '127.0.0.1', idleTimeout: 3 }
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase())
    if (!(key in o)) throw new Error(`unknown option ${argv[i]}`)
    o[key] = key === 'group' || key === 'interface' ? argv[i + 1] : Number(argv[i + 1])
  }
  if (o.role !== 'send' && o.role !== 'recv') throw new Error('usage: bench.js send|recv [options]')
  return o
}

function instance() {
  return Eventcast({ port: args.port, multicastMembership: args.group, multicastInterface: args.interface, maxEventSize: Math.max(8 << 20, args.size + 1024) })
}

async function send() {
  const ec = instance()
  await ec.start()
  const pad = Buffer.alloc(args.size - EVENT_OVERHEAD, 0xab)
  const start = performance.now()
  for (let seq = 0; seq < args.events; seq++) {
    if (args.rate > 0) {
      // paced: every event due by now goes out, then sleep (no spinning: the CPU figures
      // stay the work's own)
      const due = start + (seq * 1000) / args.rate
      while (performance.now() < due) await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())))
    }
    ec.emit('bench', BigInt(seq), nowNs(), pad)
    // emit never blocks: events wait in the instance's queue; keep it short
    if (ec.needDrain) await once(ec, 'drain')
  }
  // stay to answer repair requests, then go
  await new Promise((r) => setTimeout(r, 1000))
  await ec.stop()
}

async function recv() {
  const ec = instance()
  const sample = args.rate > 0 ? 1 : 16
  const latencies = []
  let count = 0
  let lost = 0
  let first = 0n
  let last = 0n
  let lastSeen = performance.now()
  const cpu0 = process.cpuUsage()
  const done = new Promise((resolve) => {
    ec.on('bench', (seq, sentNs) => {
      const n = count++
      if (n % sample === 0 || count === args.events) {
        lastSeen = performance.now()
        const now = nowNs()
        if (first === 0n) first = now
        last = now
        latencies.push(Number((now - BigInt(sentNs)) / 1000n))
      }
      if (count + lost >= args.events) resolve()
    })
    ec.on('eventcast:loss', (loss) => {
      lost += Number(loss.count)
      if (count + lost >= args.events) resolve()
    })
  })
  await ec.start()
  console.error(`bench.js: receiving on ${args.group}:${args.port}`)
  const idle = new Promise((resolve) => {
    const t = setInterval(() => {
      if (performance.now() - lastSeen > args.idleTimeout * 1000 && (count > 0 || performance.now() - lastSeen > 30000)) {
        clearInterval(t)
        resolve()
      }
    }, 100)
    done.then(() => clearInterval(t))
  })
  await Promise.race([done, idle])
  const cpu = process.cpuUsage(cpu0)
  const stats = await ec.stats()
  await ec.stop()
  latencies.sort((a, b) => a - b)
  const q = (p) => (latencies.length ? latencies[Math.min(latencies.length, Math.max(1, Math.ceil(p * latencies.length))) - 1] : null)
  const seconds = Number(last - first) / 1e9
  console.log(
    JSON.stringify({
      mode: 'node',
      role: 'recv',
      events: args.events,
      size: args.size,
      rate: args.rate,
      seconds,
      events_per_sec: seconds > 0 ? (count - 1) / seconds : 0,
      mb_per_sec: seconds > 0 ? (count * args.size) / seconds / 1e6 : 0,
      delivered: count,
      lost: args.events - count,
      reported_lost: lost,
      p50_us: q(0.5),
      p99_us: q(0.99),
      p999_us: q(0.999),
      cpu_user_s: cpu.user / 1e6,
      cpu_system_s: cpu.system / 1e6,
      cpu_us_per_event: count ? (cpu.user + cpu.system) / count : null,
      inbox_full_waits: stats.inbox_full_waits,
    }),
  )
}

;(args.role === 'send' ? send() : recv()).catch((err) => {
  console.error(err)
  process.exit(1)
})
