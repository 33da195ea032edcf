'use strict'
// Event-name patterns, as the Rust core reads them (src/emitter/pattern.rs; tested against
// it in test/patterns.test.js): names split at dots; a `**` segment matches any number of
// segments, including none; `*` inside a segment matches any run of characters within it.

const CACHE_MAX = 1024

/** Whether `name` is a pattern (holds `*`) rather than a plain event name. */
function isPattern(name) {
  return typeof name === 'string' && name.includes('*')
}

function escape(text) {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}

/** Whether an event called `name` matches `pattern`. */
function matches(pattern, name) {
  if (!isPattern(pattern)) return pattern === name
  return segmentsMatch(pattern.split('.'), name.split('.'))
}

// The same dynamic programme as the core's: reach[j] = the pattern so far matches the
// first j segments of the name.
function segmentsMatch(pat, names) {
  let reach = new Array(names.length + 1).fill(false)
  reach[0] = true
  for (const seg of pat) {
    const next = new Array(names.length + 1).fill(false)
    if (seg === '**') {
      let any = false
      for (let j = 0; j <= names.length; j++) {
        any = any || reach[j]
        next[j] = any
      }
    } else {
      const re = segmentRegExp(seg)
      for (let j = 0; j < names.length; j++) next[j + 1] = reach[j] && re.test(names[j])
    }
    reach = next
  }
  return reach[names.length]
}

const segCache = new Map()
function segmentRegExp(seg) {
  let re = segCache.get(seg)
  if (!re) {
    re = new RegExp('^' + seg.split('*').map(escape).join('.*') + '$', 's')
    if (segCache.size >= CACHE_MAX) segCache.clear()
    segCache.set(seg, re)
  }
  return re
}

module.exports = { isPattern, matches }
