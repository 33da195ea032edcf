'use strict'
// Loads the addon that `npm install` (scripts/build.js) built from the Rust crate.

const path = require('node:path')
const { codedError } = require('./errors')

const file = path.join(__dirname, '..', 'eventcast.node')
let addon
try {
  addon = require(file)
} catch (err) {
  const e = codedError(
    'EC_NOT_BUILT',
    `eventcast: cannot load the addon ${file} (${err.message}); build it with \`npm run build\` in ${path.dirname(file)} (needs Rust's cargo)`,
  )
  e.cause = err
  throw e
}
module.exports = addon
