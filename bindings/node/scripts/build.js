#!/usr/bin/env node
// Builds the addon (eventcast.node) from the Rust crate in this folder, in release mode:
// with @napi-rs/cli when it is installed (it also writes native.d.ts, the addon's types),
// otherwise with cargo alone (an install without devDependencies). Cargo builds
// incrementally, so running this when nothing changed takes a second or two.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = path.resolve(__dirname, '..')
const out = path.join(here, 'eventcast.node')

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: 'inherit' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status ?? 1)
}

let cli = null
try {
  cli = require.resolve('@napi-rs/cli/package.json', { paths: [here] })
} catch {}

if (cli) {
  const bin = path.join(path.dirname(cli), 'dist', 'cli.js')
  run(process.execPath, [bin, 'build', '--release', '--output-dir', '.', '--dts', 'native.d.ts'])
} else {
  run('cargo', ['build', '--release', '--manifest-path', path.join(here, 'Cargo.toml')])
  const meta = spawnSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: here, encoding: 'utf8' })
  const targetDir = JSON.parse(meta.stdout).target_directory
  const lib = { linux: 'libeventcast_node.so', darwin: 'libeventcast_node.dylib', win32: 'eventcast_node.dll' }[process.platform]
  fs.copyFileSync(path.join(targetDir, 'release', lib), out)
}
if (!fs.existsSync(out)) {
  console.error(`eventcast: the build did not produce ${out}`)
  process.exit(1)
}
