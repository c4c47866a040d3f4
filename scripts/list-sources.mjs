#!/usr/bin/env node
// list-sources.mjs — prints source groups of native/sources.json, the single list of native
// sources that binding.gyp and CMakeLists.txt both read.
//
//   node scripts/list-sources.mjs GROUP...             files of the groups, space-separated,
//                                                      relative to the package root (gyp's <!@(...))
//   node scripts/list-sources.mjs --nonempty GROUP...  1 if any of the groups has a file, else 0
//                                                      (gyp conditions: empty groups get no target)
//   node scripts/list-sources.mjs --groups             the group names
//
// An unknown group name is an error (exit 2), so a typo in binding.gyp fails the build loudly
// instead of silently dropping sources. Paths are printed with forward slashes as written.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const listFile = join(root, 'native', 'sources.json');

function fail(message) {
  process.stderr.write(`list-sources: ${message}\n`);
  process.exit(2);
}

let groups;
try {
  groups = JSON.parse(readFileSync(listFile, 'utf8'));
} catch (err) {
  fail(`cannot read ${listFile}: ${err.message}`);
}
if (groups === null || typeof groups !== 'object' || Array.isArray(groups)) {
  fail(`${listFile} must hold an object of group name -> file list`);
}

const args = process.argv.slice(2);
let mode = 'files';
if (args[0] === '--nonempty' || args[0] === '--groups') mode = args.shift().slice(2);

if (mode === 'groups') {
  process.stdout.write(Object.keys(groups).join(' ') + '\n');
  process.exit(0);
}
if (args.length === 0) fail('usage: list-sources.mjs [--nonempty] GROUP...');

const files = [];
for (const name of args) {
  if (!Object.hasOwn(groups, name)) fail(`unknown group "${name}" (have: ${Object.keys(groups).join(', ')})`);
  const list = groups[name];
  if (!Array.isArray(list) || !list.every((f) => typeof f === 'string' && f.length > 0 && !/\s/.test(f))) {
    fail(`group "${name}" must be an array of paths without whitespace`);
  }
  files.push(...list);
}

process.stdout.write((mode === 'nonempty' ? (files.length > 0 ? '1' : '0') : files.join(' ')) + '\n');
