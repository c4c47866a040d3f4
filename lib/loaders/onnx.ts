/**
 * ONNX loader (in progress): decodes a ModelProto and runs its graph with rnnx's recurrent layers.
 */
import { ModelFormatError } from '../errors.js';
import type { Model } from '../model/Model.js';

/** Loads the ONNX model at `file`. */
export async function loadOnnx(file: string): Promise<Model> {
  throw new ModelFormatError(file, 'ONNX models are not supported by this version of rnnx yet');
}
