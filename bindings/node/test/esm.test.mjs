// The ES module entry gives the same function as require().
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import Eventcast, { Eventcast as Named } from 'eventcast'

const require = createRequire(import.meta.url)

test('import and require give the same Eventcast', () => {
  assert.equal(Eventcast, require('..'))
  assert.equal(Named, Eventcast)
  assert.equal(typeof Eventcast(9000).emit, 'function')
})
