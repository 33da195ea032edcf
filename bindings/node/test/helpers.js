'use strict'
// Shared by the tests: instances on 127.0.0.1 (set explicitly: nothing leaves loopback) on
// a random port and group, so that suites never hear each other.

const fs = require('node:fs')
const path = require('node:path')
const { once } = require('node:events')
const Eventcast = require('..')

const ROOT = path.resolve(__dirname, '..', '..', '..')

function randomNet() {
  const port = 20000 + Math.floor(Math.random() * 30000)
  const group = `239.255.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`
  return { port, multicastMembership: group, multicastInterface: '127.0.0.1' }
}

/** Started instances sharing one random port and group; stopped by `t.after`. */
async function instances(t, n, extra = {}) {
  const net = randomNet()
  const list = []
  for (let i = 0; i < n; i++) list.push(Eventcast({ ...net, ...(Array.isArray(extra) ? extra[i] : extra) }))
  t.after(() => Promise.all(list.map((ec) => ec.stop())))
  await Promise.all(list.map((ec) => ec.start()))
  return Object.assign(list, { net })
}

/** Resolves with the argument lists of the next `n` events `name` on `ec`. */
function collect(ec, name, n, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => {
      ec.off(name, on)
      reject(new Error(`${got.length} of ${n} '${name}' events arrived in ${timeoutMs} ms`))
    }, timeoutMs)
    function on(...args) {
      got.push(args)
      if (got.length === n) {
        clearTimeout(timer)
        ec.off(name, on)
        resolve(got)
      }
    }
    ec.on(name, on)
  })
}

/** The CLI binary to test against: $EVENTCAST_BIN, else a build in target/. */
function cliBinary() {
  const candidates = [process.env.EVENTCAST_BIN, ...['checked', 'release', 'debug'].map((p) => path.join(ROOT, 'target', p, 'eventcast'))]
  return candidates.find((c) => c && fs.existsSync(c)) || null
}

/** The relay example (Rust): $EVENTCAST_RELAY, else a build in target/. */
function relayBinary() {
  const candidates = [process.env.EVENTCAST_RELAY, ...['release', 'checked', 'debug'].map((p) => path.join(ROOT, 'target', p, 'examples', 'relay'))]
  return candidates.find((c) => c && fs.existsSync(c)) || null
}

/** Waits until `stream` (a child's stderr) prints a line containing `word`. */
async function waitForLine(stream, word, timeoutMs = 10000) {
  let text = ''
  const timer = setTimeout(() => stream.emit('error', new Error(`no '${word}' in ${timeoutMs} ms: ${text}`)), timeoutMs)
  try {
    for (;;) {
      const [chunk] = await once(stream, 'data')
      text += chunk
      if (text.includes(word)) return text
    }
  } finally {
    clearTimeout(timer)
  }
}

module.exports = { Eventcast, randomNet, instances, collect, cliBinary, relayBinary, waitForLine, ROOT }
