// Runs inside the sandbox (never loaded by the server): one job of a JavaScript code node.
// Started ahead of time by the pool, it waits on stdin for one JSON document
// {"code": string, "inputs": {...}} and answers one JSON line on stdout:
// {"ok": true, "result": {...}} or {"ok": false, "error": "..."}. As in Dify, main() is called
// with the node's variables as one object; a returned promise is awaited. User output
// (console.*, process.stdout) is dropped: only main's return value counts.
'use strict';
const fs = require('fs');
const vm = require('vm');

const answer = (outcome) => {
  let text;
  try {
    text = JSON.stringify(outcome);
  } catch (err) {
    text = JSON.stringify({ ok: false, error: `the result cannot be serialised to JSON: ${err.message}` });
  }
  fs.writeSync(1, `${text}\n`);
};

const describe = (err) => {
  if (err instanceof Error) {
    return String(err.stack || `${err.name}: ${err.message}`)
      .split('\n')
      .filter((line) => !line.includes('/opt/sandbox/runner.js') && !line.includes('node:'))
      .join('\n');
  }
  return `Uncaught ${String(err)}`;
};

const silence = () => {};
for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table']) {
  console[name] = silence;
}
process.stdout.write = () => true;
process.stderr.write = () => true;

let finished = false;
const finish = (outcome) => {
  if (finished) return;
  finished = true;
  answer(outcome);
  process.exit(0);
};
process.on('uncaughtException', (err) => finish({ ok: false, error: describe(err) }));
process.on('unhandledRejection', (err) => finish({ ok: false, error: describe(err) }));

const job = JSON.parse(fs.readFileSync(0, 'utf8') || '{}');
globalThis.require = require;
Promise.resolve()
  .then(() => {
    const entry = vm.runInThisContext(`${job.code || ''}\n;typeof main === 'function' ? main : undefined`, {
      filename: 'code.js',
    });
    if (typeof entry !== 'function') throw new ReferenceError('the code defines no function named main');
    return entry(job.inputs || {});
  })
  .then((result) => {
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      throw new TypeError(`main() must return an object, got ${Array.isArray(result) ? 'array' : typeof result}`);
    }
    finish({ ok: true, result });
  })
  .catch((err) => finish({ ok: false, error: describe(err) }));
