/**
 * `rnnx verify` for an ONNX fixture: NAME.onnx next to NAME.io.safetensors, which holds
 * `input.<onnx input name>` and `expected.<onnx output name>` (float64). Inputs are given in the
 * graph's declared types (float32 for float, Int32 for int64); every output is compared.
 */
import { ModelFormatError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { entryToFloat32, entryToFloat64, entryToInt32, readSafetensors } from '../io/safetensors.js';
import { OnnxModel, loadOnnx } from '../loaders/onnx.js';
import { FORWARD_TOL, type FixtureResult } from './layerFixture.js';
import { relErr } from './relErr.js';

export async function runOnnxFixture(path: string): Promise<FixtureResult> {
  const name = path.replace(/^.*\//, '').replace(/\.onnx$/, '');
  const ioPath = path.replace(/\.onnx$/, '') + '.io.safetensors';
  let model: OnnxModel | undefined;
  try {
    const m = await loadOnnx(path);
    if (!(m instanceof OnnxModel)) throw new ModelFormatError(path, 'not an ONNX model');
    model = m;
    const io = await readSafetensors(ioPath);
    const inputs: Record<string, Tensor> = {};
    for (const inName of model.inputNames) {
      const e = io.tensors.get(`input.${inName}`);
      if (!e) throw new ModelFormatError(ioPath, `missing tensor "input.${inName}"`);
      const isInt = /^[IU]/.test(e.dtype) || e.dtype === 'BOOL';
      const isF64 = model.inputDType(inName) === 'float64';
      inputs[inName] = new Tensor(isInt ? entryToInt32(e) : isF64 ? entryToFloat64(e) : entryToFloat32(e), e.shape);
    }
    const out = await model.run(inputs);
    const details: Record<string, number> = {};
    let worst = 0;
    let compared = 0;
    for (const outName of model.outputNames) {
      const e = io.tensors.get(`expected.${outName}`);
      if (!e) continue;
      const got = out[outName];
      if (!got) throw new ModelFormatError(path, `the model did not return "${outName}"`);
      const exp = entryToFloat64(e);
      const sameShape = got.shape.length === e.shape.length && got.shape.every((d, i) => d === e.shape[i]);
      const err = sameShape ? relErr(got.data, exp) : Infinity;
      details[outName] = err;
      worst = Math.max(worst, err);
      compared++;
    }
    if (compared === 0) throw new ModelFormatError(ioPath, 'holds no "expected.<output>" tensor for any model output');
    return { fixture: name, ok: worst <= FORWARD_TOL, forward_rel_err: worst, grad_rel_err: null, details };
  } catch (e) {
    return {
      fixture: name,
      ok: false,
      forward_rel_err: null,
      grad_rel_err: null,
      error: e instanceof Error ? e.message : String(e),
    };
  } finally {
    model?.dispose();
  }
}
