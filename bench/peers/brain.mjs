/**
 * brain.js peer, as a note only: brain.js 1.x cannot take PyTorch weights (its LSTM has its own
 * parameterization and always adds an output layer), has no batch dimension and no streaming state
 * API, so no CONFIGS.md trial can be expressed with identical weights. What it can do is time its own
 * LSTMTimeStep on a C2-shaped sequence (128 → 256, 32 steps, batch 1, plus its output layer):
 * `run` and one training iteration on that one sequence.
 */
import { createRequire } from 'node:module';
import { budgetFor, measure, probe, uniform } from '../lib/util.mjs';

export async function brainNote({ budgetMs }) {
  const require = createRequire(import.meta.url);
  const brain = require('brain.js');
  const version = require('brain.js/package.json').version;
  const I = 128;
  const H = 256;
  const T = 32;
  const net = new brain.recurrent.LSTMTimeStep({ inputSize: I, hiddenLayers: [H], outputSize: I });
  const x = uniform(T * I, 77, 0.5);
  const seq = Array.from({ length: T }, (_, t) => Array.from(x.subarray(t * I, (t + 1) * I)));
  net.initialize();
  const run = () => net.run(seq);
  const train = () => net.train([seq], { iterations: 1, errorThresh: 0, log: false });
  // `run` needs the equations that the first `train` binds (before that it only logs a complaint).
  const trainMs = await probe(train);
  const trainT = await measure('brain.js train', train, budgetFor(trainMs, budgetMs));
  const first = run();
  if (!Array.isArray(first) && !(first instanceof Float32Array)) throw new Error('brain.js run returned no prediction');
  const runMs = await probe(run);
  const runT = await measure('brain.js run', run, budgetFor(runMs, budgetMs));
  return { version, shape: 'LSTMTimeStep 128→256→128, 32 steps, batch 1', runMs: runT.medianMs, trainIterMs: trainT.medianMs };
}
