'use strict'
// The original's REPL over TCP: prompt eventcast@HOSTNAME>, the instance in scope as
// `eventcast` (and `ec`), `eventcast.stop()` works; sessions do not keep a stopped process
// alive; the Rust console is there too when asked for.

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const os = require('node:os')
const { once } = require('node:events')
const { Eventcast, randomNet } = require('./helpers')

/** A TCP client that reads until `marker` appears after what was read so far. */
function client(port) {
  const socket = net.connect(port, '127.0.0.1')
  socket.setEncoding('utf8')
  let text = ''
  let waiters = []
  socket.on('data', (c) => {
    text += c
    waiters = waiters.filter((w) => !w())
  })
  return {
    socket,
    send: (line) => socket.write(line + '\n'),
    until(marker, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(marker)} in: ${text}`)), 5000)
        const check = () => {
          const at = text.indexOf(marker, from)
          if (at < 0) return false
          clearTimeout(timer)
          resolve(text)
          return true
        }
        if (!check()) waiters.push(check)
      })
    },
    get text() {
      return text
    },
  }
}

test('telnet to the REPL, look around, then eventcast.stop()', async (t) => {
  const prompt = `eventcast@${os.hostname()}> `
  const ec = Eventcast({ ...randomNet(), replPort: 0, replHost: 'localhost' })
  t.after(() => ec.stop())
  await ec.start()
  assert.ok(ec.replAddress.port > 0)
  const c = client(ec.replAddress.port)
  t.after(() => c.socket.destroy())
  await c.until(prompt)
  let mark = c.text.length
  c.send('eventcast.status + " " + (ec === eventcast) + " " + eventcast.config.port')
  await c.until(`'started true ${ec.config.port}'`, mark)
  mark = c.text.length
  c.send('eventcast.listenerCount("x")')
  await c.until('0', mark)
  const stopped = once(ec, 'stop')
  c.send('eventcast.stop()')
  await stopped
  assert.equal(ec.status, 'stopped')
  // the session goes on after the stop, and can start the instance again
  mark = c.text.length
  c.send('eventcast.status')
  await c.until("'stopped'", mark)
  const started = once(ec, 'start')
  c.send('eventcast.start()')
  await started
  assert.equal(ec.status, 'started')
})

test('the Rust console is available as an option', async (t) => {
  const ec = Eventcast({ ...randomNet(), console: true })
  t.after(() => ec.stop())
  await ec.start()
  assert.match(ec.consoleAddress, /^127\.0\.0\.1:\d+$/)
  const c = client(Number(ec.consoleAddress.split(':')[1]))
  t.after(() => c.socket.destroy())
  c.send('help')
  await c.until('emit')
})
