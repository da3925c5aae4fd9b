// ONNX Runtime CPU timing for bench/engine_vs_onnxruntime.py (the anchor of
// issue 11; a benchmark tool only, never a dependency of the build).
//
//   node bench/onnxruntime_time.mjs --model M.onnx --input IN.bin
//       --shape 1,3,224,224 --output OUT.bin --threads T --repeat R [--warmup W]
//
// Loads onnxruntime-node from bench/.onnxruntime (install it with
// `npm install --ignore-scripts --no-save --prefix bench/.onnxruntime
// onnxruntime-node`), creates one session with T intra-op threads, feeds the
// raw little-endian float32 input to the model's first input, runs W warm-up
// and R timed runs and prints `median_ms: X`; the first output of the last
// run is written to OUT as raw float32. Exits 2 if onnxruntime-node is missing.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ORT_PREFIX = path.join(path.dirname(fileURLToPath(import.meta.url)), '.onnxruntime');

function loadOrt() {
  const require = createRequire(path.join(ORT_PREFIX, 'package.json'));
  try {
    return require('onnxruntime-node');
  } catch (error) {
    console.error(`onnxruntime-node not found under ${ORT_PREFIX} (${error.code || error.message}); ` +
                  `install it with: npm install --ignore-scripts --no-save --prefix ${ORT_PREFIX} ` +
                  'onnxruntime-node');
    process.exit(2);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    input: { type: 'string' },
    shape: { type: 'string' },
    output: { type: 'string' },
    threads: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '3' },
  },
});
for (const name of ['model', 'input', 'shape', 'output']) {
  if (!args[name]) {
    console.error(`missing --${name}; usage: node onnxruntime_time.mjs --model M.onnx ` +
                  '--input IN.bin --shape 1,3,224,224 --output OUT.bin --threads T --repeat R');
    process.exit(1);
  }
}
const threads = Number(args.threads);
const repeat = Number(args.repeat);
const warmup = Number(args.warmup);
const shape = args.shape.split(',').map(Number);

const ort = loadOrt();
const bytes = fs.readFileSync(args.input);
const elements = shape.reduce((a, b) => a * b, 1);
if (bytes.length !== elements * 4) {
  console.error(`${args.input}: ${bytes.length} bytes, expected ${elements * 4} for shape [${shape}]`);
  process.exit(1);
}
const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));

const session = await ort.InferenceSession.create(args.model, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
});
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
const outputName = session.outputNames[0];

let results;
for (let i = 0; i < warmup; i++) {
  results = await session.run(feeds);
}
const times = [];
for (let i = 0; i < repeat; i++) {
  const start = performance.now();
  results = await session.run(feeds);
  times.push(performance.now() - start);
}
const out = results[outputName].data;
fs.writeFileSync(args.output, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
console.log(`median_ms: ${median(times).toFixed(3)}`);
await session.release();
