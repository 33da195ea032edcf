'use strict'
// Event-name patterns, as the Rust core reads them (src/emitter/pattern.rs; tested against
// it in test/api.test.js): names split at dots; a `**` segment matches any number of
// segments, including none; `*` inside a segment matches any run of characters within it.

/** Whether `name` is a pattern (holds `*`) rather than a plain event name. */
function isPattern(name) {
  return typeof name === 'string' && name.includes('*')
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
      for (let j = 0; j < names.length; j++) next[j + 1] = reach[j] && glob(seg, names[j])
    }
    reach = next
  }
  return reach[names.length]
}

/**
 * `*` matches any run of characters, everything else itself: the core's matcher, in linear
 * passes (a `*` remembers where to resume), so that no name can make it backtrack
 * exponentially.
 */
function glob(pattern, text) {
  let p = 0
  let t = 0
  let starP = -1
  let starT = 0
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++
      starT = t
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++
      t++
    } else if (starP >= 0) {
      p = starP + 1
      t = ++starT
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

module.exports = { isPattern, matches }
