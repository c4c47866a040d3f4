/** `rnnx verify` for an ONNX fixture (NAME.onnx with NAME.io.safetensors). */
import type { FixtureResult } from './layerFixture.js';

export async function runOnnxFixture(path: string): Promise<FixtureResult> {
  const name = path.replace(/^.*\//, '').replace(/\.onnx$/, '');
  return { fixture: name, ok: false, forward_rel_err: null, grad_rel_err: null, error: 'ONNX fixtures are not supported by this version of rnnx verify yet' };
}
