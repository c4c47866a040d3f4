/** `rnnx verify` for a tfjs/Keras fixture folder (model.json, weights, io.json). */
import type { FixtureResult } from './layerFixture.js';

export async function runTfjsFixture(path: string): Promise<FixtureResult> {
  const name = path.replace(/\/+$/, '').replace(/^.*\//, '');
  return { fixture: name, ok: false, forward_rel_err: null, grad_rel_err: null, error: 'TensorFlow.js fixtures are not supported by this version of rnnx verify yet' };
}
