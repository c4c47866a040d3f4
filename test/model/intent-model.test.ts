/**
 * The bundled chatbot model (models/intent-clinc150.safetensors): its CLINC150 test accuracy,
 * measured through loadModel().classify() as a user would, and the CLI around it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, SequentialModel, type Model } from '../../lib/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const modelPath = join(root, 'models/intent-clinc150.safetensors');
const data = JSON.parse(readFileSync(join(root, 'data/clinc150/data_full.json'), 'utf8')) as Record<string, [string, string][]>;

describe('bundled intent model (CLINC150)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(modelPath);
  });
  afterAll(() => model.dispose());

  it('is an rnnx sequential model with 150 intents, a tokenizer and an oos threshold chosen on validation', () => {
    expect(model).toBeInstanceOf(SequentialModel);
    const m = model as SequentialModel;
    expect(m.labels?.filter((l) => l !== 'oos')).toHaveLength(150);
    expect(m.tokenizer).toBeDefined();
    expect(m.description.oos?.label).toBe('oos');
  });

  it('in-scope test accuracy through classify() is at least 93.5%; out-of-scope recall is reported', async () => {
    const test = data.test as [string, string][];
    const res = await model.classify(test.map((p) => p[0]));
    const acc = res.filter((r, i) => r.label === (test[i] as [string, string])[1]).length / test.length;
    const oos = data.oos_test as [string, string][];
    const ro = await model.classify(oos.map((p) => p[0]));
    const recall = ro.filter((r) => r.label === 'oos').length / oos.length;
    console.log(`CLINC150 test: in-scope accuracy ${(acc * 100).toFixed(2)}% (${test.length}), oos recall ${(recall * 100).toFixed(1)}% (${oos.length})`);
    expect(test).toHaveLength(4500);
    expect(oos).toHaveLength(1000);
    expect(acc).toBeGreaterThanOrEqual(0.935);
    expect(recall).toBeGreaterThan(0.05);
    // the threshold trades in-scope accuracy for out-of-scope recall
    const thr = (model as SequentialModel).description.training as { report: { valThreshold: { threshold: number } } };
    const t = thr.report.valThreshold.threshold;
    expect(t).toBeGreaterThan(0);
    const ro2 = await model.classify(oos.map((p) => p[0]), { oosThreshold: t });
    const recall2 = ro2.filter((r) => r.label === 'oos').length / oos.length;
    const res2 = await model.classify(test.map((p) => p[0]), { oosThreshold: t });
    const acc2 = res2.filter((r, i) => r.label === (test[i] as [string, string])[1]).length / test.length;
    console.log(`with the val-chosen threshold ${t}: in-scope ${(acc2 * 100).toFixed(2)}%, oos recall ${(recall2 * 100).toFixed(1)}%`);
    expect(recall2).toBeGreaterThan(recall + 0.2);
    expect(acc2).toBeLessThanOrEqual(acc);
    expect(acc2).toBeGreaterThan(0.92);
  });

  it('answers the guide question: "what time is it?" → time', async () => {
    const [r] = await model.classify(['what time is it?']);
    expect(r?.label).toBe('time');
    expect(r?.score).toBeGreaterThan(0.5);
    const many = await model.classify(['set an alarm for 7 am', 'how do i say hello in french']);
    expect(many.map((x) => x.label)).toEqual(['alarm', 'translate']);
  });

  it('rnnx classify prints label, score and text', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin/rnnx.js'), 'classify', 'what time is it?', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stdout.trim());
    expect(line.label).toBe('time');
    expect(line.text).toBe('what time is it?');
  });
});

describe('rnnx train intent', () => {
  it('trains, writes the model atomically with its report, and the model classifies (1 epoch)', async () => {
    const { tempDir } = await import('../helpers/tmp.js');
    const dir = tempDir('rnnx-train-cli-');
    const out = join(dir, 'intent.safetensors');
    const r = spawnSync(process.execPath, [join(root, 'bin/rnnx.js'), 'train', 'intent', '--epochs', '1', '--out', out], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote .*intent\.safetensors: test in-scope accuracy \d+\.\d+%/);
    expect(r.stderr).toMatch(/epoch 1: loss/);
    const report = JSON.parse(readFileSync(join(dir, 'intent.report.json'), 'utf8'));
    expect(report.test.n).toBe(4500);
    expect(report.test.inScopeAccuracy).toBeGreaterThan(0.3); // one epoch already learns a lot
    const m = await loadModel(out);
    const [c] = await m.classify(['what time is it']);
    expect(typeof c?.label).toBe('string');
    m.dispose();
    const bad = spawnSync(process.execPath, [join(root, 'bin/rnnx.js'), 'train', 'poems'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown task poems/);
  });
});
