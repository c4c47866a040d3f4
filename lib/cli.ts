/**
 * The `rnnx` command line: `rnnx verify PATH…`, `rnnx info [--json]`, `rnnx help`.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { BackendUnavailableError } from './errors.js';
import { getBackendInfo } from './backendInfo.js';
import { runLayerFixture, type FixtureResult } from './verify/layerFixture.js';
import { runOnnxFixture } from './verify/onnxFixture.js';
import { runTfjsFixture } from './verify/tfjsFixture.js';
import { join } from 'node:path';
import { writeFileAtomic } from './io/atomicWrite.js';
import { packageRoot } from './native/binding.js';
import { loadModel } from './model/loadModel.js';

const USAGE = `Usage: rnnx <command> [options]

Commands:
  verify PATH...        run reference fixtures (layer .safetensors, NAME.onnx with NAME.io.safetensors,
                        tfjs/Keras model folders with io.json)
      --device cpu|cuda   where to run (default cpu)
      --dtype float32|float64   engine precision (default float32)
  info [--json]         version, CPU ISA (selected / supported / compiled), threads, CUDA status
  classify [--model M] [--json] TEXT...
                        intent of each text (default model: models/intent-clinc150.safetensors)
  train intent [--out PATH] [--epochs N] [--seed N] [--data data_full.json] [--checkpoint PATH [--resume]]
                        train the CLINC150 intent classifier (writes models/intent-clinc150.safetensors
                        and a report next to it)
  help                  this text
`;

/** The bundled default model. */
export function defaultModelPath(): string {
  return join(packageRoot(), 'models', 'intent-clinc150.safetensors');
}

function flagValue(rest: string[], i: number, name: string): string {
  const v = rest[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

function out(s: string): void {
  process.stdout.write(s + '\n');
}

function fixtureName(p: string): string {
  return basename(p).replace(/\.(safetensors|onnx)$/, '');
}

async function verifyOne(path: string, dtype: 'float32' | 'float64'): Promise<FixtureResult> {
  try {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      /* reported by the reader below */
    }
    if (isDir) return await runTfjsFixture(path);
    if (path.endsWith('model.json')) return await runTfjsFixture(path.replace(/\/?model\.json$/, '') || '.');
    if (path.endsWith('.onnx')) return await runOnnxFixture(path);
    return runLayerFixture(path, dtype);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { fixture: fixtureName(path), ok: false, forward_rel_err: null, grad_rel_err: null, error: msg };
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'verify': {
      const paths: string[] = [];
      let device = 'cpu';
      let dtype: 'float32' | 'float64' = 'float32';
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        if (a === '--device') device = rest[++i] ?? '';
        else if (a.startsWith('--device=')) device = a.slice(9);
        else if (a === '--dtype' || a.startsWith('--dtype=')) {
          const v = a === '--dtype' ? rest[++i] : a.slice(8);
          if (v !== 'float32' && v !== 'float64') {
            process.stderr.write(`rnnx verify: --dtype must be float32 or float64, not ${String(v)}\n`);
            return 2;
          }
          dtype = v;
        } else if (a.startsWith('--')) {
          process.stderr.write(`rnnx verify: unknown option ${a}\n${USAGE}`);
          return 2;
        } else paths.push(a);
      }
      if (paths.length === 0) {
        process.stderr.write(`rnnx verify: no fixture given\n${USAGE}`);
        return 2;
      }
      if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') {
        process.stderr.write(`rnnx verify: --device must be cpu, cuda or auto, not ${device}\n`);
        return 2;
      }
      if (device === 'cuda') {
        const cuda = getBackendInfo().cuda;
        if (!cuda.available) {
          const err = new BackendUnavailableError(`CUDA requested but not available: ${cuda.reason}`);
          for (const p of paths)
            out(JSON.stringify({ fixture: fixtureName(p), ok: false, forward_rel_err: null, grad_rel_err: null, error: err.message }));
          return 1;
        }
      }
      // `NAME.io.safetensors` is the data of `NAME.onnx`: verify the model once, whichever was named
      const seen = new Set<string>();
      const unique: string[] = [];
      for (const p of paths) {
        const q = p.endsWith('.io.safetensors') ? p.slice(0, -'.io.safetensors'.length) + '.onnx' : p;
        if (!seen.has(q)) {
          seen.add(q);
          unique.push(q);
        }
      }
      let allOk = true;
      for (const p of unique) {
        const r = await verifyOne(p, dtype);
        allOk &&= r.ok;
        const { details: _details, ...line } = r;
        out(JSON.stringify(line));
      }
      return allOk ? 0 : 1;
    }
    case 'info': {
      const info = getBackendInfo();
      if (rest.includes('--json')) {
        out(JSON.stringify(info));
      } else {
        out(`rnnx ${info.version}`);
        out(`cpu isa: ${info.cpu.selected} (supported: ${info.cpu.supported.join(', ')}; compiled: ${info.cpu.compiled.join(', ')})`);
        out(`threads: ${info.threads}`);
        out(`cuda: ${info.cuda.available ? `available, ${info.cuda.devices.map((d) => d.name).join(', ')}` : `not available (${info.cuda.reason})`}`);
        out(`node: ${process.version} ${process.platform}-${process.arch}, napi ${process.versions.napi}`);
      }
      return 0;
    }
    case 'classify': {
      let model = defaultModelPath();
      let json = false;
      const texts: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        if (a === '--model') {
          model = flagValue(rest, i, '--model');
          i++;
        } else if (a === '--json') json = true;
        else if (a.startsWith('--')) {
          process.stderr.write(`rnnx classify: unknown option ${a}\n${USAGE}`);
          return 2;
        } else texts.push(a);
      }
      if (texts.length === 0) {
        process.stderr.write(`rnnx classify: no text given\n${USAGE}`);
        return 2;
      }
      const m = await loadModel(model);
      try {
        const res = await m.classify(texts);
        res.forEach((r, i) => out(json ? JSON.stringify({ text: texts[i], ...r }) : `${r.label}\t${r.score.toFixed(3)}\t${texts[i]}`));
      } finally {
        m.dispose();
      }
      return 0;
    }
    case 'train': {
      const [what, ...args] = rest;
      if (what !== 'intent') {
        process.stderr.write(`rnnx train: unknown task ${String(what)} (available: intent)\n${USAGE}`);
        return 2;
      }
      const { trainIntent } = await import('./train/intent.js');
      let outPath = defaultModelPath();
      let data: string | undefined;
      let checkpoint: string | undefined;
      let resume = false;
      const recipe: Record<string, number> = {};
      for (let i = 0; i < args.length; i++) {
        const a = args[i] as string;
        if (a === '--out') outPath = flagValue(args, i++, a);
        else if (a === '--data') data = flagValue(args, i++, a);
        else if (a === '--checkpoint') checkpoint = flagValue(args, i++, a);
        else if (a === '--resume') resume = true;
        else if (a === '--epochs' || a === '--seed') {
          const v = Number(flagValue(args, i++, a));
          if (!Number.isInteger(v) || v < (a === '--seed' ? 0 : 1)) {
            process.stderr.write(`rnnx train: ${a} must be an integer\n`);
            return 2;
          }
          recipe[a.slice(2)] = v;
        } else {
          process.stderr.write(`rnnx train: unknown option ${a}\n${USAGE}`);
          return 2;
        }
      }
      const ac = new AbortController();
      const onSig = (): void => ac.abort(new Error('interrupted'));
      process.once('SIGINT', onSig);
      try {
        const opts: Parameters<typeof trainIntent>[0] = { out: outPath, recipe, progress: true, signal: ac.signal };
        if (data !== undefined) opts.data = data;
        if (checkpoint !== undefined) opts.checkpoint = checkpoint;
        if (resume) opts.resume = true;
        const { model, report } = await trainIntent(opts);
        model.dispose();
        await writeFileAtomic(outPath.replace(/\.safetensors$/, '') + '.report.json', JSON.stringify(report, null, 2) + '\n');
        out(
          `wrote ${outPath}: test in-scope accuracy ${(report.test.inScopeAccuracy * 100).toFixed(2)}% ` +
            `(${(report.test.inScopeAccuracyNoOos * 100).toFixed(2)}% without the oos threshold), oos recall ${(report.test.oosRecall * 100).toFixed(1)}%, ` +
            `threshold ${report.threshold}, ${report.epochsRun} epochs in ${report.trainSeconds.toFixed(0)} s on ${report.threads} threads (${report.isa})`,
        );
      } finally {
        process.off('SIGINT', onSig);
      }
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`rnnx: unknown command ${cmd}\n${USAGE}`);
      return 2;
  }
}
