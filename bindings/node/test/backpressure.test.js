'use strict'
// emit never blocks the event loop: when the instance cannot take more, events wait in a
// bounded queue, in order, 'drain' follows; past the bound, emit throws EC_BACKPRESSURE.
// Nothing is lost.

const test = require('node:test')
const assert = require('node:assert/strict')
const { once } = require('node:events')
const { instances } = require('./helpers')

test('a burst of 200,000 events: every one arrives, in order, and drain follows a queue', async (t) => {
  const [a, b] = await instances(t, 2)
  const N = 200_000
  let next = 0
  let wrong = null
  const all = new Promise((resolve) => {
    b.on('n', (i) => {
      if (i !== next && wrong === null) wrong = `expected ${next}, got ${i}`
      next++
      if (next === N) resolve()
    })
  })
  let drains = 0
  a.on('drain', () => drains++)
  let queued = false
  for (let i = 0; i < N; i++) {
    a.emit('n', i)
    queued ||= a.needDrain
  }
  await all
  assert.equal(wrong, null)
  if (queued) {
    if (a.needDrain) await once(a, 'drain')
    assert.ok(drains >= 1)
  }
  const s = await b.stats()
  assert.equal(s.events_lost, 0)
})

test('past maxQueuedBytes, emit throws and emitAsync rejects with EC_BACKPRESSURE naming the bound', async (t) => {
  const [a, b] = await instances(t, 2, [{ maxQueuedBytes: 10_000, retransmitEvents: 16 }, {}])
  let thrown = null
  let sent = 0
  const big = 'x'.repeat(1000)
  for (let i = 0; i < 10_000 && !thrown; i++) {
    try {
      a.emit('e', big)
      sent++
    } catch (err) {
      thrown = err
    }
  }
  assert.ok(thrown, 'the bound was reached')
  assert.equal(thrown.code, 'EC_BACKPRESSURE')
  assert.match(thrown.message, /maxQueuedBytes 10000/)
  const got = new Promise((resolve) => {
    let n = 0
    b.on('e', () => ++n === sent + 100 && resolve())
  })
  // emitAsync is bounded the same way (it rejects past the bound); after 'drain' it waits
  // for room event by event
  await assert.rejects(a.emitAsync('e', big), { code: 'EC_BACKPRESSURE' })
  if (a.needDrain) await once(a, 'drain')
  for (let i = 0; i < 100; i++) await a.emitAsync('e', big)
  await got
  assert.ok((await a.stats()).node.refused >= 1)
})

test("'drain' never fires inside emit(): a caller that sees needDrain can always wait for it", async (t) => {
  const [a] = await instances(t, 1, { retransmitEvents: 64 })
  let inside = false
  let drainedInside = false
  a.on('drain', () => (drainedInside ||= inside))
  for (let i = 0; i < 2000; i++) {
    inside = true
    a.emit('x', i)
    inside = false
    if (a.needDrain) await once(a, 'drain')
  }
  assert.equal(drainedInside, false)
})
