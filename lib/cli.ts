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

const USAGE = `Usage: rnnx <command> [options]

Commands:
  verify PATH...        run reference fixtures (layer .safetensors, NAME.onnx with NAME.io.safetensors,
                        tfjs/Keras model folders with io.json)
      --device cpu|cuda   where to run (default cpu)
      --dtype float32|float64   engine precision (default float32)
  info [--json]         version, CPU ISA (selected / supported / compiled), threads, CUDA status
  help                  this text
`;

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
