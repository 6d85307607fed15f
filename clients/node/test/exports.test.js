import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import * as keel from '../src/index.js';

test('index.d.ts declares every runtime export', () => {
  const types = fs.readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const declared = new Set([...types.matchAll(/^export declare (?:abstract )?(?:const|class|function) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual(Object.keys(keel).filter((name) => !declared.has(name)), []);
});

test('the README opens with a worker of 15 lines or fewer', () => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const first = readme.match(/```js\n([\s\S]*?)```/);
  assert.ok(first, 'README has a js code block');
  assert.ok(first[1].trimEnd().split('\n').length <= 15);
  assert.match(first[1], /new Worker/);
});
