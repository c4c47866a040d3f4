/**
 * TensorFlow.js / Keras layers-model loader (in progress).
 */
import { ModelFormatError } from '../errors.js';
import type { Model } from '../model/Model.js';

/** Loads the tfjs layers model whose model.json is `file`. */
export async function loadTfjs(file: string): Promise<Model> {
  throw new ModelFormatError(file, 'TensorFlow.js / Keras models are not supported by this version of rnnx yet');
}
