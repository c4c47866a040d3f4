/**
 * rnnx — fast recurrent networks (RNN, LSTM, GRU) for Node.js.
 * Public exports only; see README.md and DESIGN.md's public contract.
 */
export { Tensor, type DType, type TensorData } from './tensor.js';
export { LSTM, type LSTMOptions } from './layers/LSTM.js';
export { GRU, type GRUOptions } from './layers/GRU.js';
export { RNN, type RNNOptions } from './layers/RNN.js';
export {
  Recurrent,
  RecurrentStream,
  paramSpecs,
  type RecurrentOptions,
  type RecurrentConfig,
  type ForwardOptions,
  type ForwardResult,
  type Tape,
  type Gradients,
  type BackwardGrads,
  type BackwardOptions,
  type StreamOptions,
  type StreamState,
  type StateDict,
} from './layers/Recurrent.js';
export type { ActivationName, ActivationSpec } from './layers/activations.js';
export { getBackendInfo, setThreads, getThreads, setCpuIsa, version, type BackendInfo } from './backendInfo.js';
export {
  RnnxError,
  InvalidArgumentError,
  ShapeError,
  DTypeError,
  DisposedError,
  BusyError,
  BackendUnavailableError,
  CudaError,
  ModelFormatError,
  OutOfMemoryError,
  AbortError,
  BinaryLoadError,
  InternalError,
} from './errors.js';
export {
  parseSafetensors,
  readSafetensors,
  readSafetensorsSync,
  serializeSafetensors,
  writeSafetensors,
  writeSafetensorsSync,
  type SafetensorsEntry,
  type SafetensorsFile,
} from './io/safetensors.js';
export { runLayerFixture, type FixtureResult } from './verify/layerFixture.js';
export { loadModel } from './model/loadModel.js';
export * from './tokenizer/index.js';
export { Model, RecurrentModel, type Classification, type ClassifyOptions } from './model/Model.js';
export { SequentialModel, type CreateOptions } from './model/Sequential.js';
export type {
  ModelDescription,
  LayerDescription,
  EmbeddingLayer,
  DropoutLayer,
  RecurrentLayer,
  PoolLayer,
  DenseLayer,
  SoftmaxLayer,
} from './model/description.js';
export type { LoadOptions } from './model/loadModel.js';
export {
  fit,
  evaluate,
  scheduleFactor,
  type FitOptions,
  type History,
  type EpochLog,
  type ProgressInfo,
  type OptimizerOptions,
  type ScheduleOptions,
  type TrainData,
} from './train/fit.js';
export { trainIntent, DEFAULT_RECIPE, type IntentRecipe, type IntentReport } from './train/intent.js';
