'use strict'
// index.d.ts compiles under tsc --strict against what the README shows (test/types.ts).

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

test('the TypeScript types compile with --strict', (t) => {
  let tsc
  try {
    tsc = require.resolve('typescript/bin/tsc')
  } catch {
    return t.skip('typescript is not installed (npm install)')
  }
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--types', 'node', '--module', 'commonjs', '--target', 'es2022', path.join(__dirname, 'types.ts')], { encoding: 'utf8', cwd: path.join(__dirname, '..') })
  assert.equal(r.status, 0, r.stdout + r.stderr)
})
